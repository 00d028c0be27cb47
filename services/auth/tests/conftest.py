"""Fixtures of the auth tests: one migrated database and one vhost for the session, real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from auth.settings import AuthSettings
from helpdesk_testing.plugin import JwtKeys, TestDatabase
from shared.migrations import upgrade

from .helpers import Db, EventTap

AUTH_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest.fixture(scope="session")
async def auth_db(make_database: Callable[[], Any]) -> TestDatabase:
    """A fresh database with the auth schema made by the real migrations."""
    db = await make_database()
    await upgrade(AUTH_INI, db.url("auth"))
    return db


@pytest.fixture(scope="session")
def auth_vhost(make_vhost: Callable[[], str]) -> str:
    return make_vhost()


@pytest.fixture(scope="session")
def make_settings(auth_db: TestDatabase, auth_vhost: str, jwt_keys: JwtKeys) -> Callable[..., AuthSettings]:
    """Settings for a test app; nothing comes from .env or the environment unless overridden."""

    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": auth_db.url("auth"),
            "rabbitmq_url": auth_vhost,
            "jwt_private_key": jwt_keys.private_pem,
            "jwt_public_key": jwt_keys.public_pem,
            "jwt_issuer": jwt_keys.issuer,
            "jwt_audience": jwt_keys.audience,
            "access_token_ttl_s": 900,
            "login_max_failures": 5,
            "login_window_s": 3600,
            "bootstrap_admin_email": None,
            "bootstrap_admin_password": None,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def db(auth_db: TestDatabase) -> Db:
    return Db(auth_db.admin_url())


@pytest.fixture
async def tap(auth_vhost: str) -> AsyncIterator[EventTap]:
    tap = await EventTap(auth_vhost).start()
    yield tap
    await tap.close()
