"""Engines, sessions and the naming convention every service's metadata uses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import greenlet_spawn

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# a pooled connection unused this long gets a ping before it is handed out again
PING_IDLE_AFTER_S = 10.0


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """SQL text `column IN ('a', 'b')` for CHECK constraints and partial indexes (trusted words only)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def service_metadata(schema: str) -> MetaData:
    """MetaData bound to a service's own schema, with stable constraint names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 2.0,
    connect_timeout: float = 2.0,
    command_timeout: float = 30.0,
    behind_pooler: bool = False,
    application_name: str = "helpdesk",
    ping_idle_after: float = PING_IDLE_AFTER_S,
) -> AsyncEngine:
    """An engine that opens up to 2 x `pool_size` (+ `max_overflow`) connections, on demand.

    Not `pool_size` plus as many overflow connections: SQLAlchemy closes an overflow connection
    when it is returned, so a steady load just above the pool (more messages in flight than
    `pool_size`) opened and closed a Postgres backend per checkout: about 20 new sessions a
    second in the chaos run, each a fork, a TLS handshake and a type introspection. The pool
    fills lazily and `IdlePoolTrimmer` closes what an idle process no longer needs.

    `pool_timeout` and `connect_timeout` bound how long a request waits for a connection before
    it answers 503 (shared.problems). `behind_pooler` (PgBouncer in transaction mode): no
    server-side prepared statement cache, and statement names that never collide between the
    clients one server connection serves in turn.

    No ping per checkout (SQLAlchemy's `pool_pre_ping` cost three round trips per request:
    BEGIN, ";", ROLLBACK): `_drop_dead_connections` discards a connection whose socket is
    already closed at no cost, and pings only one that sat unused for `ping_idle_after` seconds.
    A connection that breaks during a request fails that request (503, shared.problems) and
    SQLAlchemy invalidates the pool's older connections with it.
    """
    connect_args: dict[str, Any] = {
        "timeout": connect_timeout,
        "command_timeout": command_timeout,
        "server_settings": {"application_name": application_name},
    }
    if behind_pooler:
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__hd_{uuid.uuid4().hex}__",
        }
    engine = create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    _drop_dead_connections(engine, ping_idle_after)
    return engine


def _drop_dead_connections(engine: AsyncEngine, ping_idle_after: float) -> None:
    """At checkout, refuse a connection the server closed (or, idle a while, that fails a ping).

    Raising DisconnectionError in a checkout handler makes the pool drop that connection and
    check out another (a new one when none is left): SQLAlchemy's "pessimistic" recipe.
    """
    pool = engine.sync_engine.pool

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        raw = getattr(dbapi_connection, "_connection", None)
        if raw is not None and raw.is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > ping_idle_after:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                raise DisconnectionError("a pooled connection failed its ping") from exc

    event.listen(pool, "checkin", on_checkin)
    event.listen(pool, "checkout", on_checkout)


class IdlePoolTrimmer:
    """Closes an idle process's pooled connections (SQLAlchemy's pool only ever grows).

    When no more than one connection was in use at once for `idle_timeout` seconds and none is
    checked out now, the pool's idle connections are closed; the next checkout opens one again.
    So an idle stack holds about one connection per process (plus the outbox listener), and a
    busy one keeps its pool.
    """

    def __init__(self, engine: AsyncEngine, *, idle_timeout: float) -> None:
        self._pool = engine.sync_engine.pool
        self._idle_timeout = idle_timeout
        self._busy_at = time.monotonic()
        event.listen(self._pool, "checkout", self._on_checkout)

    def _on_checkout(self, *_: Any) -> None:
        if self._pool.checkedout() > 1:  # type: ignore[attr-defined]
            self._busy_at = time.monotonic()

    async def trim(self) -> int:
        """Close the idle connections if the pool has been quiet long enough; returns how many."""
        pool = self._pool
        idle = int(pool.checkedin())  # type: ignore[attr-defined]
        if idle <= 1 or pool.checkedout() or time.monotonic() - self._busy_at < self._idle_timeout:  # type: ignore[attr-defined]
            return 0
        # nothing is checked out (and the check and dispose()'s first step run without a pause
        # between them): it closes idle connections only
        await greenlet_spawn(pool.dispose)
        return idle

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self._idle_timeout / 3))
            try:
                await self.trim()
            except Exception:  # noqa: BLE001, S110 - trimming is housekeeping; try next round
                pass


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq DSN asyncpg takes, from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back on an exception."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
        return False
    return True


async def fresh_connection_works(url: str, *, timeout: float = 2.0) -> bool:
    """Whether a brand-new connection (not the pool's) gets an answer from the server."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout, statement_cache_size=0)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    try:
        await conn.fetchval("SELECT 1", timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    finally:
        conn.terminate()
    return True
