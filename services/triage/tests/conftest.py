"""Fixtures of the triage tests: a migrated database, a vhost, settings, and a bus probe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from helpdesk_testing.plugin import JwtKeys, TestDatabase
from shared.bus import dead_letter_queue, declare_topology
from shared.db import create_engine, create_sessionmaker
from shared.events import TOPOLOGY
from shared.migrations import upgrade
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from triage.settings import TriageSettings

from .helpers import Probe

INI = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest.fixture(scope="session")
async def _triage_database(
    make_database: Callable[[], Awaitable[TestDatabase]],
) -> TestDatabase:
    db = await make_database()
    await upgrade(INI, db.url("triage"))
    return db


@pytest.fixture
async def triage_db(_triage_database: TestDatabase) -> TestDatabase:
    """The session's migrated database, emptied for this test (directory, workload, models)."""
    conn = await asyncpg.connect(_triage_database.admin_url())
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'triage' AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'triage."{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names}")
    finally:
        await conn.close()
    return _triage_database


@pytest.fixture(scope="session")
def _vhost(make_vhost: Callable[[], str]) -> str:
    return make_vhost()


@pytest.fixture
async def vhost(_vhost: str) -> str:
    """The session's vhost with every queue emptied (no message of an earlier test is left)."""
    connection = await aio_pika.connect(_vhost, timeout=10)
    try:
        channel = await connection.channel()
        await declare_topology(channel)
        for name in TOPOLOGY:
            for queue in (name, dead_letter_queue(name)):
                await (await channel.get_queue(queue)).purge()
    finally:
        await connection.close()
    return _vhost


@pytest.fixture
def make_settings(triage_db: TestDatabase, vhost: str, jwt_keys: JwtKeys) -> Callable[..., TriageSettings]:
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


@pytest.fixture
async def engine(triage_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    """An engine on triage's test database (20 connections: the workload tests run in parallel)."""
    engine = create_engine(triage_db.url("triage"), pool_size=20)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)
