"""Fixtures of the triage tests: a migrated database, a vhost, settings, and a bus probe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.migrations import upgrade
from shared.testing.plugin import JwtKeys, TestDatabase
from triage.settings import TriageSettings

from .helpers import Probe

INI = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest.fixture
async def triage_db(make_database: Callable[[], Awaitable[TestDatabase]]) -> TestDatabase:
    """A fresh database migrated to head (each test gets its own directory and workload)."""
    db = await make_database()
    await upgrade(INI, db.url("triage"))
    return db


@pytest.fixture
def vhost(make_vhost: Callable[[], str]) -> str:
    """A fresh, empty vhost for this test."""
    return make_vhost()


@pytest.fixture
def make_settings(
    triage_db: TestDatabase, vhost: str, jwt_keys: JwtKeys
) -> Callable[..., TriageSettings]:
    """Settings for this test's database and vhost; keyword arguments override fields."""

    def make(**overrides: Any) -> TriageSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": triage_db.url("triage"),
            "rabbitmq_url": vhost,
            "jwt_public_key": jwt_keys.public_pem,
            "provider": "local",
            "gemini_api_key": None,
            "retrain_interval_s": 0,
            "model_poll_s": 0.5,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return TriageSettings(**values)

    return make


@pytest.fixture
async def probe(vhost: str) -> AsyncIterator[Probe]:
    p = Probe(vhost)
    await p.bus.start()
    assert await p.bus.wait_connected(10)
    yield p
    await p.bus.close()


