"""Outages are not poison: paused consumers, 503 within the pool timeout, a trimmed idle pool."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import asyncpg
import httpx
from helpdesk_testing.plugin import TestDatabase, wait_for
from shared.bus import DELIVERY_LIMIT, Bus, dead_letter_queue
from shared.db import IdlePoolTrimmer, create_engine
from shared.events import Envelope, UserRegistered
from shared.outage import DependencyGate, is_unavailable, never_the_message
from shared.settings import ServiceSettings
from shared.web import create_service_app
from sqlalchemy import text


def registered() -> UserRegistered:
    from datetime import UTC, datetime

    return UserRegistered(
        user_id=uuid.uuid4(),
        email="a@example.test",
        name="A",
        role="user",
        skills=[],
        created_at=datetime.now(UTC),
    )


async def test_a_handler_failing_for_an_outage_spends_no_delivery(make_vhost):
    url = make_vhost()
    database_up = False
    attempts = 0

    async def probe() -> bool:
        return database_up

    gate = DependencyGate(name="database", probe=probe, first_backoff=0.05, max_backoff=0.2)
    bus = Bus(url, service="test", gate=gate)
    done: list[uuid.UUID] = []

    async def handler(envelope: Envelope) -> None:
        nonlocal attempts
        attempts += 1
        if not database_up:
            raise ConnectionRefusedError(111, "Connection refused")
        done.append(envelope.id)

    bus.consume("tickets", handler)
    await bus.start()
    assert await bus.wait_connected(10)
    sent = Envelope.wrap(registered())
    await bus.publish(sent)
    await wait_for(lambda: asyncio.sleep(0, result=not gate.is_open), message="the gate to close")
    await asyncio.sleep(1.5)  # many probe rounds; the old code had requeued it 5 times by now
    assert not done
    assert not gate.is_open
    assert attempts == 1  # paused: not retried while the probe fails
    database_up = True
    await wait_for(lambda: asyncio.sleep(0, result=done), timeout=5, message="the handler after the outage")
    assert done == [sent.id]
    assert gate.is_open
    await bus.close()
    await gate.close()

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        dlq = await channel.get_queue(dead_letter_queue("tickets"), ensure=True)
        assert await dlq.get(no_ack=True, fail=False) is None
    finally:
        await connection.close()


async def test_a_bug_that_looks_like_an_outage_still_dead_letters(make_vhost):
    """A handler that raises OSError every time while the probe passes is the message's fault."""
    url = make_vhost()

    async def probe() -> bool:
        return True

    gate = DependencyGate(name="database", probe=probe, first_backoff=0.01, max_backoff=0.01)
    bus = Bus(url, service="test", gate=gate)
    calls = 0

    async def handler(envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise FileNotFoundError("a bug, not an outage")

    bus.consume("tickets", handler)
    await bus.start()
    assert await bus.wait_connected(10)
    sent = Envelope.wrap(registered())
    await bus.publish(sent)
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        dlq = await channel.get_queue(dead_letter_queue("tickets"), ensure=True)
        message = await wait_for(lambda: dlq.get(no_ack=True, fail=False), timeout=60, message="the dead letter")
        assert message.message_id == str(sent.id)
        assert calls > DELIVERY_LIMIT
    finally:
        await connection.close()
        await bus.close()
        await gate.close()


async def test_a_gate_that_cannot_heal_reports_stuck():
    async def down() -> bool:
        return False

    async def fresh_works() -> bool:
        return True

    disposed = 0

    async def dispose() -> None:
        nonlocal disposed
        disposed += 1

    gate = DependencyGate(
        name="database", probe=down, fresh_probe=fresh_works, on_stale=dispose, first_backoff=0.05, max_backoff=0.1
    )
    gate.report(ConnectionResetError())
    await asyncio.sleep(0.5)
    assert disposed >= 1  # it tried the cure: new connections instead of the pool's
    assert gate.stuck_for() > 0.2
    await gate.close()


def test_outage_classification():
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    assert is_unavailable(ConnectionRefusedError())
    assert is_unavailable(PoolTimeout("QueuePool limit reached"))
    assert is_unavailable(asyncpg.exceptions.TooManyConnectionsError("too many connections"))
    assert is_unavailable(OperationalError("SELECT", {}, asyncpg.exceptions.AdminShutdownError("bye")))
    assert not is_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_unavailable(ValueError("bad input"))
    # no connection at all is never a message's fault; a bare OSError might be a handler bug
    assert never_the_message(OperationalError("SELECT", {}, asyncpg.exceptions.TooManyConnectionsError("no slot")))
    assert never_the_message(ConnectionRefusedError())
    assert not never_the_message(FileNotFoundError("x"))
    assert not never_the_message(TimeoutError())


async def _limited_role(db: TestDatabase, limit: int) -> str:
    """A login role allowed `limit` connections: 'no slots left' without touching the server."""
    role = f"hd_slots_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(db.admin_url())
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {limit}')
        await admin.execute(f'GRANT CONNECT ON DATABASE "{db.name}" TO "{role}"')
    finally:
        await admin.close()
    return role


async def test_no_database_connection_is_503_with_retry_after_within_the_pool_timeout(pg_database, jwt_keys):
    role = await _limited_role(pg_database, 1)
    url = f"postgresql+asyncpg://{role}@{pg_database.host}:{pg_database.port}/{pg_database.name}"
    engine = create_engine(url, pool_size=1, pool_timeout=1.0, connect_timeout=1.0)
    settings = ServiceSettings(service_name="t", environment="test", jwt_public_key=jwt_keys.public_pem)

    async def ready() -> dict[str, bool]:
        return {}

    app = create_service_app(title="t", settings=settings, readiness=ready)
    hold = asyncio.Event()

    @app.get("/query")
    async def query() -> dict[str, int]:
        async with engine.connect() as conn:
            value = await conn.scalar(text("SELECT 1"))
            await hold.wait()
        return {"value": int(value or 0)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as c:
        holder = asyncio.create_task(c.get("/query"))  # takes the role's only slot
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        no_slot = await c.get("/query")  # the pool may open a second one: the server refuses it
        assert no_slot.status_code == 503, no_slot.text
        assert no_slot.headers["retry-after"]
        assert time.perf_counter() - started < 2.0
        hold.set()
        assert (await holder).status_code == 200
        assert (await c.get("/query")).status_code == 200  # the slot is free again: served
    # now the pool is the limit: both its connections held, the next request waits pool_timeout
    small = create_engine(pg_database.url("tickets"), pool_size=1, pool_timeout=1.0)
    app2 = create_service_app(title="t2", settings=settings, readiness=ready)
    gate = asyncio.Event()

    @app2.get("/hold")
    async def hold_route() -> dict[str, bool]:
        async with small.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await gate.wait()
        return {"ok": True}

    transport2 = httpx.ASGITransport(app=app2, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport2, base_url="http://t", timeout=30) as c:
        held = [asyncio.create_task(c.get("/hold")) for _ in range(2)]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        exhausted = await c.get("/hold")
        elapsed = time.perf_counter() - started
        assert exhausted.status_code == 503, exhausted.text
        assert exhausted.headers["retry-after"]
        assert 0.9 < elapsed < 2.0
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
    await engine.dispose()
    await small.dispose()
    admin = await asyncpg.connect(pg_database.admin_url())
    try:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
    finally:
        await admin.close()


async def test_an_idle_pool_is_trimmed_to_nothing(pg_database):
    engine = create_engine(pg_database.url("tickets"), pool_size=5, application_name="trim-test")
    trimmer = IdlePoolTrimmer(engine, idle_timeout=1.0)

    async def one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.2)"))

    await asyncio.gather(*(one() for _ in range(6)))
    assert await trimmer.trim() == 0  # busy a moment ago: kept
    admin = await asyncpg.connect(pg_database.admin_url())
    try:
        count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'trim-test'"
        assert await admin.fetchval(count) == 6
        await asyncio.sleep(1.1)
        assert await trimmer.trim() == 6
        await wait_for(lambda: _zero(admin, count), timeout=5, message="backends gone")
        await one()  # and it still works: a new connection on demand
    finally:
        await admin.close()
        await engine.dispose()


async def _zero(admin: asyncpg.Connection, query: str) -> bool:
    return await admin.fetchval(query) == 0
