"""The bus, the outbox relay and the idempotent consumer against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from helpdesk_testing.plugin import wait_for
from helpdesk_testing.proxy import TcpProxy
from shared.bus import DELIVERY_LIMIT, Bus, BusUnavailableError, declare_topology
from shared.events import (
    EXCHANGE,
    Assignee,
    Envelope,
    TicketTriaged,
    TicketTriageFailed,
    UserRegistered,
)
from shared.inbox import idempotent
from shared.outbox import NOTIFY_CHANNEL, OutboxRelay, add_event
from sqlalchemy import func, select


def triaged(ticket_id: uuid.UUID | None = None) -> TicketTriaged:
    return TicketTriaged(
        ticket_id=ticket_id or uuid.uuid4(),
        attempt=1,
        category="Billing",
        priority="high",
        confidence=0.9,
        provider="local",
        model="m",
        assignee=Assignee(id=uuid.uuid4(), name="Mo", email="mo@example.test", role="moderator"),
        assignment_reason="skills",
    )


def proxied(url: str, proxy: TcpProxy) -> str:
    head, vhost = url.rsplit("/", 1)
    creds = head.split("@")[0]
    return f"{creds}@127.0.0.1:{proxy.port}/{vhost}"


async def test_published_event_reaches_its_queue_consumer(make_vhost):
    url = make_vhost()
    seen: list[Envelope] = []
    bus = Bus(url, service="test")

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope)

    bus.consume("tickets", handler)
    await bus.start()
    assert await bus.wait_connected(10)
    sent = Envelope.wrap(triaged(), correlation_id="corr-1")
    await bus.publish(sent)
    await wait_for(lambda: asyncio.sleep(0, result=seen), message="delivery")
    assert seen[0].id == sent.id
    assert seen[0].correlation_id == "corr-1"
    assert isinstance(seen[0].payload(), TicketTriaged)
    await bus.close()


async def test_unroutable_publish_raises(make_vhost):
    url = make_vhost()
    bus = Bus(url, service="test")
    await bus.start()
    assert await bus.wait_connected(10)
    stray = Envelope(type="nobody.listens", data={})
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await bus.publish(stray)
    await bus.close()


async def test_publish_while_disconnected_is_unavailable(make_vhost):
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    await proxy.cut()
    bus = Bus(proxied(make_vhost(), proxy), service="test")
    await bus.start()
    with pytest.raises(BusUnavailableError):
        await bus.publish(Envelope.wrap(triaged()))
    await bus.close()


async def test_failing_handler_is_dead_lettered_after_the_delivery_limit(make_vhost):
    url = make_vhost()
    attempts: list[uuid.UUID] = []
    dead: list[Envelope] = []
    bus = Bus(url, service="test", prefetch=4)

    async def always_fails(envelope: Envelope) -> None:
        attempts.append(envelope.id)
        raise RuntimeError("poison")

    async def on_dead(envelope: Envelope) -> None:
        dead.append(envelope)

    bus.consume("tickets", always_fails)
    bus.consume("tickets", on_dead, dead_letters=True)
    await bus.start()
    assert await bus.wait_connected(10)
    poison = Envelope.wrap(triaged())
    await bus.publish(poison)
    await wait_for(lambda: asyncio.sleep(0, result=dead), timeout=30, message="dead letter")
    assert dead[0].id == poison.id
    assert len(attempts) == DELIVERY_LIMIT + 1
    await bus.close()


async def test_malformed_message_goes_straight_to_the_dead_letter_queue(make_vhost):
    url = make_vhost()
    handled: list[Envelope] = []
    bus = Bus(url, service="test")

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    bus.consume("tickets", handler)
    await bus.start()
    assert await bus.wait_connected(10)
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(EXCHANGE)
    await exchange.publish(aio_pika.Message(b"{not json"), routing_key="ticket.triaged")

    async def dlq_depth() -> int:
        queue = await channel.declare_queue("tickets.dlq", passive=True)
        return queue.declaration_result.message_count

    assert await wait_for(dlq_depth, timeout=10, message="dead-lettered message") == 1
    assert handled == []
    await connection.close()
    await bus.close()


async def test_consumer_resumes_after_the_broker_connection_is_cut(make_vhost):
    url = make_vhost()
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    seen: list[uuid.UUID] = []
    bus = Bus(proxied(url, proxy), service="test", reconnect_interval=0.3)

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope.id)

    bus.consume("tickets", handler)
    await bus.start()
    assert await bus.wait_connected(10)
    first = Envelope.wrap(triaged())
    await bus.publish(first)
    await wait_for(lambda: asyncio.sleep(0, result=first.id in seen), message="first delivery")

    await proxy.cut()
    await asyncio.sleep(1.0)
    # publish from another connection while our consumer is cut off
    publisher = Bus(url, service="other")
    await publisher.start()
    assert await publisher.wait_connected(10)
    second = Envelope.wrap(triaged())
    await publisher.publish(second)
    await proxy.restore()

    await wait_for(lambda: asyncio.sleep(0, result=second.id in seen), timeout=30, message="delivery after reconnect")
    await wait_for(lambda: asyncio.sleep(0, result=bus.connected), timeout=10, message="reconnect")
    third = Envelope.wrap(triaged())
    await bus.publish(third)
    await wait_for(lambda: asyncio.sleep(0, result=third.id in seen), message="publish after reconnect")
    await publisher.close()
    await bus.close()
    await proxy.close()


async def test_outbox_row_written_while_broker_is_down_is_published_when_it_returns(
    make_vhost, sessions, tables, pg_database
):
    url = make_vhost()
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    await proxy.cut()
    bus = Bus(proxied(url, proxy), service="test", reconnect_interval=0.3)
    await bus.start()
    relay = OutboxRelay(
        sessions=sessions,
        outbox=tables.outbox,
        bus=bus,
        database_url=pg_database.url("tickets"),
        poll_interval=0.2,
    )
    await relay.start()

    async with sessions() as session, session.begin():
        envelope = await add_event(session, tables.outbox, triaged())

    await asyncio.sleep(1.0)
    assert await relay.backlog() == 1, "nothing can be published while the broker is down"

    received: list[Envelope] = []
    consumer = Bus(url, service="consumer")

    async def handler(env: Envelope) -> None:
        received.append(env)

    consumer.consume("tickets", handler)
    await consumer.start()
    assert await consumer.wait_connected(10)
    await proxy.restore()

    await wait_for(lambda: asyncio.sleep(0, result=received), timeout=30, message="relayed event")
    assert received[0].id == envelope.id
    await wait_for(lambda: _zero(relay), timeout=10, message="row marked sent")
    async with sessions() as session:
        sent_at = await session.scalar(select(tables.outbox.c.published_at))
    assert sent_at is not None
    await relay.stop()
    await bus.close()
    await consumer.close()
    await proxy.close()


async def _zero(relay: OutboxRelay) -> bool:
    return await relay.backlog() == 0


async def test_unroutable_outbox_row_backs_off_without_blocking_others(make_vhost, sessions, tables, pg_database):
    url = make_vhost()
    bus = Bus(url, service="test")
    await bus.start()
    assert await bus.wait_connected(10)
    relay = OutboxRelay(sessions=sessions, outbox=tables.outbox, bus=bus, database_url=pg_database.url("tickets"))
    async with sessions() as session, session.begin():
        good = await add_event(session, tables.outbox, triaged())
        await session.execute(
            tables.outbox.insert().values(
                id=uuid.uuid4(),
                routing_key="nobody.listens",
                envelope=Envelope(type="nobody.listens", data={}).model_dump(mode="json"),
            )
        )
    assert await relay.publish_batch() == 1
    async with sessions() as session:
        rows = {r.routing_key: r for r in (await session.execute(select(tables.outbox))).all()}
    assert rows[good.type].published_at is not None
    stuck = rows["nobody.listens"]
    assert stuck.published_at is None
    assert stuck.attempts == 1
    assert stuck.last_error
    assert stuck.available_at > datetime.now(UTC)
    await bus.close()


async def test_redelivered_event_is_applied_once(sessions, tables):
    applied: list[uuid.UUID] = []

    async def on_registered(session, payload, envelope) -> None:
        applied.append(payload.user_id)

    handle = idempotent(
        sessions=sessions,
        table=tables.processed,
        consumer="test",
        handlers={"user.registered": on_registered},
    )
    event = Envelope.wrap(
        UserRegistered(
            user_id=uuid.uuid4(), email="a@example.test", name="A", role="user", created_at=datetime.now(UTC)
        )
    )
    await asyncio.gather(handle(event), handle(event), handle(event))
    await handle(event)
    assert len(applied) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(tables.processed)) == 1


async def test_effect_and_processed_mark_roll_back_together(sessions, tables):
    calls = 0

    async def flaky(session, payload, envelope) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")

    handle = idempotent(
        sessions=sessions, table=tables.processed, consumer="test", handlers={"ticket.triage_failed": flaky}
    )
    event = Envelope.wrap(TicketTriageFailed(ticket_id=uuid.uuid4(), attempt=1, reason="x"))
    with pytest.raises(RuntimeError):
        await handle(event)
    await handle(event)  # the redelivery is applied, because the first attempt left no mark
    assert calls == 2


async def test_topology_declaration_is_idempotent(make_vhost):
    url = make_vhost()
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await declare_topology(channel)
    await declare_topology(channel)
    queue = await channel.declare_queue("triage", passive=True)
    assert queue.declaration_result.message_count == 0
    await connection.close()


async def test_relay_wakes_for_its_own_outbox_only(make_vhost, sessions, tables, pg_database):
    """One NOTIFY channel per database: another service's commit must not cost this relay a round."""
    url = make_vhost()
    bus = Bus(url, service="test")
    await bus.start()
    assert await bus.wait_connected(10)
    relay = OutboxRelay(
        sessions=sessions, outbox=tables.outbox, bus=bus, database_url=pg_database.url("tickets"), poll_interval=60
    )
    rounds: list[int] = []
    publish_batch = relay.publish_batch

    async def counted() -> int:
        sent = await publish_batch()
        rounds.append(sent)
        return sent

    relay.publish_batch = counted  # type: ignore[method-assign]
    await relay.start()
    await wait_for(lambda: asyncio.sleep(0, result=rounds), message="the relay's first round")
    await asyncio.sleep(0.3)  # the listener is connected after the first round
    before = len(rounds)

    async with sessions() as session, session.begin():
        for schema in ("auth", "triage", "notifier"):
            await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, schema)))
    await asyncio.sleep(0.5)
    assert len(rounds) == before, "woken by another schema's NOTIFY"

    async with sessions() as session, session.begin():
        await add_event(session, tables.outbox, triaged())
        await add_event(session, tables.outbox, triaged())
    await wait_for(lambda: _zero(relay), timeout=5, message="own rows published, woken by their NOTIFY")
    assert rounds[before:] == [2], "the transaction's two rows in one round"
    await relay.stop()
    await bus.close()
