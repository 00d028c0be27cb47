"""`make up` gives each process only its own secrets: the JWT private key to auth alone, a broker
user per process, a database password per role (as compose and Kubernetes do)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("helpdesk_stack_env", ROOT / "scripts" / "stack.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def envs(stack: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    for name in (
        "JWT_PRIVATE_KEY",
        "RABBITMQ_URL",
        "BOOTSTRAP_ADMIN_PASSWORD",
        "GEMINI_API_KEY",
        *(f"{s.upper()}_DATABASE_URL" for s in stack.SERVICES),
        *(f"{s.upper()}_DB_PASSWORD" for s in stack.SERVICES),
        *(f"{u.upper()}_RABBITMQ_PASSWORD" for u in stack.BROKER_USERS),
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "only-for-triage")
    monkeypatch.setattr(stack, "broker_users_enabled", lambda: True)
    monkeypatch.setattr(stack, "ROOT", tmp_path)  # the .env it writes goes there
    instance = stack.Instance("envcheck", 5000, root=tmp_path)
    _, processes = stack.load_processes()
    env = stack.process_env(instance, processes)
    return {p.name: stack.env_for(p, instance, env) for p in processes}


def test_only_auth_gets_the_jwt_private_key(envs: dict[str, dict[str, str]]) -> None:
    assert "JWT_PRIVATE_KEY" in envs["auth"]
    for name, env in envs.items():
        if name != "auth":
            assert "JWT_PRIVATE_KEY" not in env, name
            assert "BOOTSTRAP_ADMIN_PASSWORD" not in env, name
        assert env["JWT_PUBLIC_KEY"], name
    assert envs["triage"]["GEMINI_API_KEY"] == "only-for-triage"
    assert "GEMINI_API_KEY" not in envs["tickets"]


def test_each_process_logs_in_to_the_broker_as_itself(envs: dict[str, dict[str, str]]) -> None:
    users = {}
    for name in ("auth", "tickets", "triage", "notifier", "gateway"):
        url = urlsplit(envs[name]["RABBITMQ_URL"])
        assert url.username == f"helpdesk_envcheck.{name}"
        assert url.password
        assert len(url.password) >= 32
        assert url.path == "/helpdesk_envcheck"
        users[name] = url.password
        assert not any(k.endswith("_RABBITMQ_PASSWORD") for k in envs[name]), name
    assert len(set(users.values())) == len(users), "every broker user has its own password"
    # the mail sink is no service: no secret of anyone's
    assert not [k for k in envs["smtp-sink"] if k.endswith(("_PASSWORD", "_DATABASE_URL", "PRIVATE_KEY", "_API_KEY"))]


def test_each_database_url_carries_its_roles_own_password(envs: dict[str, dict[str, str]]) -> None:
    passwords = set()
    for name in ("auth", "tickets", "triage", "notifier"):
        env = envs[name]
        url = urlsplit(env[f"{name.upper()}_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql"))
        assert url.username == f"helpdesk_{name}"
        assert url.password
        assert len(url.password) >= 32
        passwords.add(url.password)
        others = [s for s in ("auth", "tickets", "triage", "notifier") if s != name]
        assert not any(f"{o.upper()}_DATABASE_URL" in env for o in others), name
        assert not any(k.endswith("_DB_PASSWORD") for k in env), name
    assert len(passwords) == 4
