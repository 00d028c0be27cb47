"""The images (no engine here to build them): one Dockerfile, built per part with the build args of
docker-compose.yml; each image multi-stage, dependencies from the lock in their own cached layer,
no dev dependencies, an unprivileged user, a healthcheck, and the command of processes.toml.
The uv steps are also run for real, as the build would, in a copy of the context."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from deploy.images import DOCKERFILE, PARTS, build_args, dockerfile

from .conftest import ROOT, Process, run


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_one_dockerfile_builds_an_image_per_container_process(container_processes: list[Process]) -> None:
    # mail-in and tickets-relay run from the tickets image (processes of the same package)
    assert {p.name for p in container_processes} - {"mail-in", "tickets-relay"} == set(PARTS)
    assert DOCKERFILE.exists()
    assert not [*ROOT.glob("services/*/Dockerfile"), *ROOT.glob("gateway/Dockerfile")], "one Dockerfile only"
    for name in PARTS:
        assert build_args(name)["PART"] == name


@pytest.mark.parametrize("name", sorted(PARTS))
def test_dockerfile_shape(name: str, container_processes: list[Process]) -> None:
    process = next(p for p in container_processes if p.name == name)
    steps = instructions(dockerfile(name))
    froms = [args for kw, args in steps if kw == "FROM"]
    assert len(froms) >= 3, "uv, build and runtime stages"
    assert froms[-1].endswith(" AS runtime")
    runs = [args for kw, args in steps if kw == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert len(syncs) == 2, "dependencies first (cached layer), then our code"
    package = f"helpdesk-{name}"
    assert "--no-install-workspace" in syncs[0]
    for sync in syncs:
        assert "--mount=type=cache,target=/root/.cache/uv" in sync
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert f"--package {package}" in sync
    # the dependency layer sees only the lock and the manifests
    build = next(i for i, (kw, a) in enumerate(steps) if kw == "FROM" and a.endswith(" AS build"))
    first_sync = next(i for i, (kw, a) in enumerate(steps) if kw == "RUN" and "uv sync" in a)
    for kw, args in steps[build:first_sync]:
        if kw == "COPY" and "--from=" not in args:
            assert all(
                src in ("pyproject.toml", "uv.lock") or src.endswith("/pyproject.toml") for src in args.split()[:-1]
            ), args
    runtime = steps[next(i for i, (kw, a) in enumerate(steps) if a == froms[-1]) :]
    user = [args for kw, args in runtime if kw == "USER"]
    assert user
    assert not user[-1].startswith(("0", "root"))
    healthcheck = next(args for kw, args in runtime if kw == "HEALTHCHECK")
    assert f"127.0.0.1:{process.port}{process.health}" in healthcheck
    cmd = next(args for kw, args in reversed(runtime) if kw == "CMD")
    assert shlex.split(cmd) == ["exec", *process.container_command]
    copies = " ".join(args for kw, args in runtime if kw == "COPY")
    assert "/app/.venv" in copies
    if process.migrations:
        # the build stage gathers the files the runtime reads from disk; the runtime copies them
        ini = process.migrations[process.migrations.index("-c") + 1]
        gathered = " ".join(args for kw, args in steps[build:] if kw == "RUN" and "/files/" in args)
        assert ini in gathered
        assert ini.replace("alembic.ini", "migrations/") in gathered
        assert "--from=build /files/ /app/" in copies


def test_the_gateway_image_carries_the_built_web_app() -> None:
    text = dockerfile("gateway")
    assert "npm ci" in text
    assert "npm run build" in text
    assert "FROM web AS web-dist" in text
    assert "COPY --from=web-dist /web/dist web/dist" in text
    assert "GATEWAY_WEB_DIR=/app/web/dist" in text
    # the services' images do not build it
    assert "FROM no-web AS web-dist" in dockerfile("tickets")


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", "**/.venv", "web/node_modules", ".env", "var", "**/tests"):
        assert entry in ignored, entry


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")
def test_the_uv_steps_install_the_service_without_dev_dependencies(tmp_path: Path) -> None:
    """Replays the build stage of the tickets image: the dependency layer from the manifests
    and the lock alone, then the code as a wheel; the result imports and has no pytest."""
    steps = instructions(dockerfile("tickets"))
    context = tmp_path / "app"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(context / ".venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        # links into uv's cache instead of copies: the same result, in a second
        "UV_LINK_MODE": "symlink",
    }
    env.pop("VIRTUAL_ENV", None)
    for keyword, args in steps:
        if keyword == "FROM" and args.endswith(" AS runtime"):
            break
        if keyword == "COPY" and "--from=" not in args:
            *sources, target = args.split()
            for source in sources:
                destination = (
                    context
                    / target.rstrip("/")
                    / (Path(source).name if target.endswith("/") and not source.endswith("/") else "")
                )
                if source.endswith("/"):
                    shutil.copytree(
                        ROOT / source,
                        context / target,
                        ignore=shutil.ignore_patterns("tests", "__pycache__", ".venv"),
                        dirs_exist_ok=True,
                    )
                else:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, destination)
        if keyword == "RUN" and "uv sync" in args:
            argv = args[args.index("uv sync") :].split()
            result = run(argv, env=env, cwd=context)
            assert result.returncode == 0, result.stderr[-2000:]
    python = context / ".venv" / "bin" / "python"
    probe = run(
        [
            str(python),
            "-c",
            "import tickets, shared, uvicorn, alembic; "
            "import importlib.util as u; print(u.find_spec('pytest') is None)",
        ],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "True", "dev dependencies leaked into the image"
    assert (
        "site-packages" in run([str(python), "-c", "import tickets; print(tickets.__file__)"], cwd=tmp_path).stdout
    ), "installed as a wheel, not from the source tree"
