"""Each service's Postgres role reaches its own schema and nothing else."""

from __future__ import annotations

import itertools

import asyncpg
import pytest
from shared.dbsetup import SERVICES, role_name


def _dsn(db, service: str) -> str:
    return f"postgresql://{role_name(service)}@{db.host}:{db.port}/{db.name}"


@pytest.fixture(scope="module")
async def probe_tables(pg_database):
    for service in SERVICES:
        conn = await asyncpg.connect(_dsn(pg_database, service))
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS privilege_probe (secret text)")
            await conn.execute("INSERT INTO privilege_probe VALUES ($1)", f"{service}-secret")
        finally:
            await conn.close()
    return pg_database


@pytest.mark.parametrize(("reader", "owner"), list(itertools.permutations(SERVICES, 2)))
async def test_a_role_cannot_read_or_write_another_schema(probe_tables, reader, owner):
    conn = await asyncpg.connect(_dsn(probe_tables, reader))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT secret FROM {owner}.privilege_probe")  # noqa: S608 - fixed names
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"CREATE TABLE {owner}.intruder (x int)")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_role_reads_its_own_schema_but_not_public(probe_tables, service):
    conn = await asyncpg.connect(_dsn(probe_tables, service))
    try:
        assert await conn.fetchval("SELECT secret FROM privilege_probe") == f"{service}-secret"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.intruder (x int)")
        is_super = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert is_super is False
    finally:
        await conn.close()
