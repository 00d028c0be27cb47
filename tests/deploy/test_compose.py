"""docker-compose.yml validates (`docker-compose config`) and runs what processes.toml lists."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared.settings import ServiceSettings

from .conftest import ROOT, Process, base_env, compose_argv, run, tool

INFRA = {"postgres", "pgbouncer", "rabbitmq", "mailpit"}
SECRETS = (
    "POSTGRES_PASSWORD",
    "AUTH_DB_PASSWORD",
    "TICKETS_DB_PASSWORD",
    "TRIAGE_DB_PASSWORD",
    "NOTIFIER_DB_PASSWORD",
    "ADMIN_RABBITMQ_PASSWORD",
    "AUTH_RABBITMQ_PASSWORD",
    "TICKETS_RABBITMQ_PASSWORD",
    "TRIAGE_RABBITMQ_PASSWORD",
    "NOTIFIER_RABBITMQ_PASSWORD",
    "GATEWAY_RABBITMQ_PASSWORD",
    "MONITOR_RABBITMQ_PASSWORD",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "BOOTSTRAP_ADMIN_EMAIL",
    "BOOTSTRAP_ADMIN_PASSWORD",
)


def one_shots(compose: dict[str, Any]) -> set[str]:
    return {n for n, s in compose["services"].items() if s.get("restart") == "no"}


def test_the_services_are_the_container_processes_plus_infrastructure(
    compose: dict[str, Any],
    container_processes: list[Process],
) -> None:
    long_running = set(compose["services"]) - one_shots(compose)
    assert long_running == {p.name for p in container_processes} | INFRA


def test_same_command_and_settings_names_as_make_up(
    compose: dict[str, Any],
    container_processes: list[Process],
) -> None:
    for p in container_processes:
        service = compose["services"][p.name]
        assert service["command"] == p.container_command, p.name
        names = set(service["environment"])
        assert set(p.settings) <= names, f"{p.name}: missing {set(p.settings) - names}"
        assert names <= set(p.settings) | set(p.optional_settings), (
            f"{p.name}: unknown settings {names - set(p.settings) - set(p.optional_settings)}"
        )


def test_migrations_run_once_before_their_service_with_its_settings(
    compose: dict[str, Any],
    container_processes: list[Process],
    setup_step: dict[str, Any],
) -> None:
    services = compose["services"]
    setup = services["dbsetup"]
    assert setup["command"] == setup_step["command"]
    assert set(setup["environment"]) == set(setup_step["settings"])
    assert setup["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for p in container_processes:
        if not p.migrations:
            continue
        job = services[f"{p.name}-migrate"]
        assert job["command"] == p.migrations
        assert job["restart"] == "no"
        assert job["image"] == services[p.name]["image"]
        assert job["environment"] == services[p.name]["environment"]
        assert job["depends_on"] == {
            "dbsetup": {"condition": "service_completed_successfully"},
            "pgbouncer": {"condition": "service_healthy"},
        }
        assert services[p.name]["depends_on"][f"{p.name}-migrate"] == {"condition": "service_completed_successfully"}


def test_healthchecks_everywhere_and_start_order_waits_for_them(
    compose: dict[str, Any],
    container_processes: list[Process],
) -> None:
    services = compose["services"]
    shots = one_shots(compose)
    for name, service in services.items():
        if name in shots:
            assert service["healthcheck"] in ({"disable": True}, {"test": ["NONE"]}), name
        else:
            assert service["healthcheck"]["test"], name
        for dependency, how in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in shots else "service_healthy"
            assert how == {"condition": expected}, f"{name} -> {dependency}"
    for p in container_processes:
        check = " ".join(services[p.name]["healthcheck"]["test"])
        assert f"127.0.0.1:{p.port}{p.ready}" in check, p.name
        assert "rabbitmq" in services[p.name]["depends_on"], p.name
    assert set(services["gateway"]["depends_on"]) >= {"auth", "tickets", "triage", "notifier"}


def test_every_service_has_its_own_broker_and_database_account(
    compose: dict[str, Any],
    generated_env: tuple[Path, dict[str, str]],
) -> None:
    services = compose["services"]
    values = generated_env[1]
    for name in ("auth", "tickets", "triage", "notifier", "gateway"):
        env = services[name]["environment"]
        password = values[f"{name.upper()}_RABBITMQ_PASSWORD"]
        assert env["RABBITMQ_URL"] == f"amqp://{name}:{password}@rabbitmq:5672/helpdesk"
        if name != "gateway":
            password = values[f"{name.upper()}_DB_PASSWORD"]
            assert env[f"{name.upper()}_DATABASE_URL"] == (
                f"postgresql+asyncpg://helpdesk_{name}:{password}@pgbouncer:6432/helpdesk"
            )
            assert env["DB_BEHIND_POOLER"] == "true"


def test_rabbitmq_loads_the_definitions_and_only_uis_and_the_gateway_are_published(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    mounts = " ".join(str(v) for v in services["rabbitmq"]["volumes"])
    assert "deploy/rabbitmq/definitions.json" in mounts
    published = {n for n, s in services.items() if s.get("ports")}
    # mail-in: the SMTP port the support address's mail arrives on
    assert published == {"gateway", "rabbitmq", "mailpit", "mail-in"}
    assert "ports" not in services["postgres"]
    assert compose["networks"]["backend"]["internal"] is True


def test_every_secret_is_required(generated_env: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Leaving out a secret stops `docker-compose config` with a message naming it; none of
    them has a default in the file."""
    path, _ = generated_env
    incomplete = tmp_path / ".env"
    incomplete.write_text(
        "".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD="))
    )
    result = run(compose_argv(incomplete, "config", "--quiet"), env=base_env())
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    text = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS:
        assert f"${{{name}:?" in text, name
        assert f"${{{name}:-" not in text, f"{name} must have no default"
    assert set(SECRETS) <= set(generated_env[1]), "deploy/gen-env.sh makes every secret"


def test_a_generated_env_passes_every_services_production_checks(
    compose: dict[str, Any],
    container_processes: list[Process],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sh deploy/gen-env.sh > .env` then compose: each service accepts its environment with
    ENVIRONMENT=production (real keys, long passwords, no guest account, a usable WEB_BASE_URL)."""
    services = compose["services"]
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for p in container_processes:
        environment = {k: str(v) for k, v in services[p.name]["environment"].items()}
        assert environment["ENVIRONMENT"] == "production"
        module = importlib.import_module(p.settings_module)
        settings_class = next(
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
        )
        with monkeypatch.context() as m:
            for name in list(os.environ):
                if name.isupper() and name not in ("PATH", "HOME"):
                    m.delenv(name)
            for name, value in environment.items():
                m.setenv(name, value)
            assert settings_class().production, p.name


def test_docker_compose_v2_reads_the_file_as_the_debian_one_does(
    compose: dict[str, Any],
    generated_env: tuple[Path, dict[str, str]],
) -> None:
    """Users run Compose v2: it validates the file too, and sees the same services, commands,
    settings, start order and healthchecks (and names the project `helpdesk`)."""
    binary = tool("docker-compose-v2")
    result = run(
        [
            binary,
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(generated_env[0]),
            "--profile",
            "separate-relay",
            "config",
        ],
        env=base_env(),
    )
    assert result.returncode == 0, result.stderr
    v2 = yaml.safe_load(result.stdout)
    assert v2["name"] == "helpdesk"
    assert set(v2["services"]) == set(compose["services"])
    for name, service in compose["services"].items():
        other = v2["services"][name]
        assert other.get("command") == service.get("command"), name
        assert {k: str(v) for k, v in other.get("environment", {}).items()} == {
            k: str(v) for k, v in service.get("environment", {}).items()
        }, name
        assert {k: v["condition"] for k, v in other.get("depends_on", {}).items()} == {
            k: v["condition"] for k, v in service.get("depends_on", {}).items()
        }, name
        assert other.get("image") == service.get("image"), name
        if "test" in service.get("healthcheck", {}) and service["healthcheck"]["test"] != ["NONE"]:
            assert other["healthcheck"]["test"] == service["healthcheck"]["test"], name
