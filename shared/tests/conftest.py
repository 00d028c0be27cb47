from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from helpdesk_testing.plugin import TestDatabase
from shared.db import create_engine, create_sessionmaker, service_metadata
from shared.inbox import processed_messages_table
from shared.outbox import outbox_table
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


class Tables:
    def __init__(self, schema: str) -> None:
        self.metadata: MetaData = service_metadata(schema)
        self.outbox: Table = outbox_table(self.metadata)
        self.processed: Table = processed_messages_table(self.metadata)


@pytest.fixture(scope="session")
async def tables(pg_database: TestDatabase) -> AsyncIterator[Tables]:
    # the shared package's own tests borrow the tickets schema with its role
    t = Tables("tickets")
    engine = create_engine(pg_database.url("tickets"))
    async with engine.begin() as conn:
        await conn.run_sync(t.metadata.create_all)
    await engine.dispose()
    return t


@pytest.fixture
async def engine(pg_database: TestDatabase, tables: Tables) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database.url("tickets"))
    async with engine.begin() as conn:
        await conn.execute(tables.outbox.delete())
        await conn.execute(tables.processed.delete())
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
