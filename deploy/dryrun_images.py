"""Run each image's contents without Docker: a check that the runtime stage has what it needs.

For each image (the root Dockerfile with the build args docker-compose.yml gives it, see
deploy/images.py), replays the build stage's COPY and `uv sync` steps into a folder, keeps what
the runtime stage keeps (the venv and the part's migrations, source trees removed; the web app
from web/dist when built), then, from there as from /app, runs the migrations against a fresh
database and starts the process of processes.toml until /healthz and /readyz answer (and the
gateway serves the web app). Needs uv, the machine's Postgres and RabbitMQ
(rabbitmqctl for a throwaway vhost); removes what it made.

    uv run python deploy/dryrun_images.py [auth tickets triage notifier gateway]
"""

# ruff: noqa: S603, S607 - a developer tool that runs uv, rabbitmqctl and the images' commands
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import uuid
from pathlib import Path

import shared.dbsetup as dbsetup
from images import PARTS, ROOT, build_args, dockerfile

PORT_BASE = 18700


def steps(name: str) -> list[tuple[str, str, str]]:
    """(stage, INSTRUCTION, arguments) of the image of `name`, continuation lines joined, comments dropped."""
    text = "\n".join(line for line in dockerfile(name).splitlines() if not line.lstrip().startswith("#"))
    stage, result = "", []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
        result.append((stage, keyword.upper(), rest.strip()))
    return result


def copy(source: str, target: Path) -> None:
    src = ROOT / source
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tests", "__pycache__", ".venv"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)


def build(name: str, work: Path) -> Path:
    """The image's /app as a folder: the build stage replayed, then only what runtime keeps."""
    build_dir, app = work / "build", work / "app"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(build_dir / ".venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "symlink",
        "UV_NO_PROGRESS": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    part_dir = build_args(name).get("PART_DIR", f"services/{name}")
    for stage, keyword, args in steps(name):
        if stage == "build" and keyword == "COPY" and "--from=" not in args:
            *sources, target = args.split()
            for source in sources:
                name_part = "" if source.endswith("/") or not target.endswith("/") else Path(source).name
                copy(source, build_dir / target / name_part)
        elif stage == "build" and keyword == "RUN" and "uv sync" in args:
            subprocess.run(
                args[args.index("uv sync") :].split(), cwd=build_dir, env=env, check=True, capture_output=True
            )
        elif stage == "runtime" and keyword == "COPY":
            parts = args.split()
            if parts[0] == "--from=build" and parts[1] == "/app/.venv":
                shutil.move(str(build_dir / ".venv"), app / ".venv")
            elif parts[0] == "--from=build" and parts[1] == "/files/":
                # what the build stage gathers there: the part's alembic.ini and migrations
                if (ROOT / part_dir / "alembic.ini").exists():
                    copy(f"{part_dir}/alembic.ini", app / part_dir / "alembic.ini")
                    copy(f"{part_dir}/migrations", app / part_dir / "migrations")
            elif parts[0] == "--from=web-dist":
                if build_args(name).get("WEB") == "web" and (ROOT / "web" / "dist").exists():
                    copy("web/dist", app / "web" / "dist")
            else:
                *sources, target = parts
                for source in sources:
                    name_part = "" if source.endswith("/") or not target.endswith("/") else Path(source).name
                    copy(source, app / target / name_part)
    return app


def image_env(name: str, app: Path) -> dict[str, str]:
    """ENV lines of the runtime stage, with /app pointing at the folder."""
    env: dict[str, str] = {}
    for stage, keyword, args in steps(name):
        if stage == "runtime" and keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value.replace("/app", str(app)).replace("$PATH", os.environ["PATH"])
    return env


def check(name: str, database: str, vhost: str, port: int) -> str:
    spec = tomllib.loads((ROOT / "deploy" / "processes.toml").read_text())
    process = next(p for p in spec["process"] if p["name"] == name)
    with tempfile.TemporaryDirectory(prefix=f"image-{name}-") as tmp:
        app = build(name, Path(tmp))
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/"),
            **image_env(name, app),
            "ENVIRONMENT": "dev",
            "LOG_LEVEL": "WARNING",
            "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            "TRIAGE_PROVIDER": "local",
            # the gateway alone: no upstream runs beside it here
            "GATEWAY_READY_UPSTREAMS": "",
        }
        for service in ("auth", "tickets", "triage", "notifier"):
            env[f"{service.upper()}_DATABASE_URL"] = dbsetup.service_database_url(service, database=database)
        if process.get("migrations"):
            subprocess.run(process["migrations"], cwd=app, env=env, check=True, capture_output=True, timeout=300)
        command = list(process["command"])
        command[command.index("--port") + 1] = str(port)
        log = Path(tmp) / "log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                command, cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 120
            answered: dict[str, int] = {}
            while time.monotonic() < deadline and len(answered) < 2 and proc.poll() is None:
                for path in (process["health"], process["ready"]):
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                            answered[path] = r.status
                    except OSError:
                        pass
                time.sleep(0.5)
            if len(answered) < 2:
                raise RuntimeError(f"{name}: no answer ({answered}); log:\n{log.read_text()[-3000:]}")
            if name == "gateway" and (app / "web" / "dist" / "index.html").exists():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode(errors="replace").lower()
                if "<html" not in page and "<!doctype html" not in page:
                    raise RuntimeError("gateway: / does not serve the web app from web/dist")
                answered["/ (web app)"] = 200
            site = subprocess.run(
                [str(app / ".venv" / "bin" / "python"), "-c", f"import {name}; print({name}.__file__)"],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            return f"{name}: migrations ok, {answered}, code from {site.replace(tmp, '<image>')}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def main(names: list[str]) -> int:
    tag = f"dryrun_{uuid.uuid4().hex[:8]}"
    admin = os.environ.get("PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN)
    asyncio.run(dbsetup.setup(admin_dsn=admin, database=tag))
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", tag], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", tag, "guest", ".*", ".*", ".*"], check=True, capture_output=True
    )
    failed = 0
    try:
        for i, name in enumerate(names or list(PARTS)):
            try:
                print(check(name, tag, tag, PORT_BASE + i), flush=True)
            except Exception as exc:  # noqa: BLE001 - report every image
                failed += 1
                print(f"{name}: FAILED {exc}", flush=True)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", tag], capture_output=True, check=False)
        asyncio.run(dbsetup.drop_database(admin_dsn=admin, database=tag))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
