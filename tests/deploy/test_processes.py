"""deploy/processes.toml is the one list of processes: `make up` reads it, and it names every
setting the code reads (so compose and Kubernetes, checked against it, cannot miss one)."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path

import pytest

from .conftest import ROOT, Process, load_processes

CONVENTION_PORTS = {
    "gateway": 8000,
    "auth": 8101,
    "tickets": 8102,
    "triage": 8103,
    "notifier": 8104,
    "smtp-sink": 1025,
    "mail-in": 8105,
    "tickets-relay": 8106,
}
# processes whose app is not <name>.app (mail-in is a second process of the tickets package)
APPS = {"mail-in": "tickets.mailin", "tickets-relay": "tickets.relay"}
PACKAGES = {
    "auth": ROOT / "services/auth/auth",
    "tickets": ROOT / "services/tickets/tickets",
    "triage": ROOT / "services/triage/triage",
    "notifier": ROOT / "services/notifier/notifier",
    "gateway": ROOT / "gateway/gateway",
    "mail-in": ROOT / "services/tickets/tickets",
    "tickets-relay": ROOT / "services/tickets/tickets",
}
SETTINGS_FILES = {"mail-in": ("settings.py", "mailin_settings.py")}
ALIAS = re.compile(r"""(?:validation_)?alias\s*=\s*["']([A-Z][A-Z0-9_]*)["']""")


def settings_read_by(path: Path) -> set[str]:
    return set(ALIAS.findall(path.read_text())) if path.exists() else set()


def test_every_process_of_the_conventions_once_on_its_port(processes: list[Process]) -> None:
    assert {p.name: p.port for p in processes} == CONVENTION_PORTS
    assert len({p.name for p in processes}) == len(processes)


def test_http_processes_are_uvicorn_factories_with_health_and_readiness(
    processes: list[Process],
) -> None:
    for p in processes:
        if p.name == "smtp-sink":
            continue
        app = APPS.get(p.name, f"{p.name}.app")
        assert p.command[:3] == ["uvicorn", f"{app}:create_app", "--factory"], p.name
        assert p.command[p.command.index("--port") + 1] == str(p.port), p.name
        assert p.command[p.command.index("--host") + 1] == "127.0.0.1", p.name
        assert (p.health, p.ready) == ("/healthz", "/readyz"), p.name


def test_migrations_are_alembic_in_the_service_folder(processes: list[Process]) -> None:
    with_migrations = {p.name for p in processes if p.migrations}
    assert with_migrations == {"auth", "tickets", "triage", "notifier"}
    for p in processes:
        if p.migrations:
            ini = f"services/{p.name}/alembic.ini"
            assert p.migrations == ["alembic", "-c", ini, "upgrade", "head"]


def test_setup_creates_roles_and_schemas(setup_step: dict[str, object]) -> None:
    assert setup_step["command"] == ["python", "-m", "shared.dbsetup"]
    dbsetup = (ROOT / "shared/shared/dbsetup.py").read_text()
    for name in setup_step["settings"]:  # type: ignore[attr-defined]
        # the per-service passwords are read as f"{service.upper()}_DB_PASSWORD"
        assert name in dbsetup or name.endswith("_DB_PASSWORD"), name


def test_settings_lists_do_not_overlap(processes: list[Process]) -> None:
    for p in processes:
        assert len(set(p.settings)) == len(p.settings), p.name
        assert not set(p.settings) & set(p.optional_settings), p.name


def test_every_setting_the_code_reads_is_listed(processes: list[Process]) -> None:
    """A setting added to a service's settings.py belongs in processes.toml too, so that compose
    and Kubernetes are checked for it; a listed name nobody reads is a typo or a leftover.

    While the services still change every hour this warns (pytest's warnings summary);
    HELPDESK_STRICT_SETTINGS=1 makes it fail."""
    common = settings_read_by(ROOT / "shared/shared/settings.py")
    assert {"ENVIRONMENT", "RABBITMQ_URL", "JWT_PUBLIC_KEY"} <= common
    drift = []
    for p in processes:
        if p.name not in PACKAGES:
            continue
        own_file = PACKAGES[p.name] / "settings.py"
        if not own_file.exists():
            continue  # the service is not written yet
        read = set(common)
        for name in SETTINGS_FILES.get(p.name, ("settings.py",)):
            read |= settings_read_by(PACKAGES[p.name] / name)
        listed = set(p.settings) | set(p.optional_settings)
        if read - listed:
            drift.append(f"{p.name} reads {sorted(read - listed)}: add them to deploy/processes.toml")
        if listed - read:
            drift.append(f"deploy/processes.toml lists {sorted(listed - read)}: {p.name} never reads them")
    if drift and os.environ.get("HELPDESK_STRICT_SETTINGS") == "1":
        pytest.fail("; ".join(drift))
    for line in drift:
        warnings.warn(line, stacklevel=1)


def test_make_up_starts_exactly_these_processes() -> None:
    """`make up` (scripts/stack.py) takes its processes, commands and settings from this file."""
    stack_path = ROOT / "scripts" / "stack.py"
    if not stack_path.exists():
        pytest.skip("scripts/stack.py is not there yet")
    spec = importlib.util.spec_from_file_location("helpdesk_stack", stack_path)
    assert spec
    assert spec.loader
    stack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = stack  # its dataclasses look their module up there
    spec.loader.exec_module(stack)
    setup, processes = load_processes()
    setup_command, stack_processes = stack.load_processes()
    assert setup_command == setup["command"]
    assert [(p.name, p.command, p.port, p.migrations, p.settings) for p in stack_processes] == [
        (p.name, p.command, p.port, p.migrations, p.settings) for p in processes
    ]
    # the separate relay starts only when tickets is told not to relay itself (the default)
    for p in stack_processes:
        assert p.wanted({}) == (p.name != "tickets-relay"), p.name
        assert p.wanted({"OUTBOX_RELAY": "off"}), p.name
    for p in stack_processes:
        # stack.argv only resolves the executable in .venv/bin; the arguments are unchanged
        args = stack.argv(p.command)
        assert Path(args[0]).name == p.command[0]
        assert args[1:] == p.command[1:]
