"""Forged events: the broker refuses another service's routing keys, consumers refuse another's types."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import uuid
from collections.abc import Iterator

import aio_pika
import pytest
from helpdesk_testing.plugin import wait_for
from shared.broker_access import ensure_service_users
from shared.bus import Bus, dead_letter_queue, declare_topology, expected_publisher
from shared.events import EXCHANGE, Envelope, TicketCreated, UserUpdated

from .test_bus_outbox import triaged


def test_the_expected_publisher_is_the_owners_user_with_the_same_prefix() -> None:
    assert expected_publisher("ticket.triaged", own_user="tickets", service="tickets") == "triage"
    assert expected_publisher("user.updated", own_user="e2e.triage", service="triage") == "e2e.auth"
    # processes sharing one user (service tests on one vhost): only that user counts
    assert expected_publisher("ticket.triaged", own_user="guest", service="tickets") == "guest"
    assert expected_publisher("no.such.event", own_user="tickets", service="tickets") is None


def test_every_consumed_event_type_has_one_owner() -> None:
    """A type a queue binds but nobody owns would be refused as forged by every consumer."""
    from shared.events import PUBLISHERS, TOPOLOGY

    bound = {key for keys in TOPOLOGY.values() for key in keys}
    assert bound - set(PUBLISHERS) == set()


@pytest.fixture(scope="module")
def service_urls(make_vhost) -> Iterator[dict[str, str]]:
    """Broker users `<vhost>.auth|tickets|triage` with the rights they have in production."""
    guest_url = make_vhost()
    # as in production the administrator declares the topology (deploy/rabbitmq definitions):
    # declaring a queue with a dead-letter exchange needs rights the services do not have
    asyncio.run(_declare(guest_url))
    head, vhost = guest_url.rsplit("/", 1)
    host = head.split("@", 1)[1]
    passwords = {s: secrets.token_hex(12) for s in ("auth", "tickets", "triage")}
    users = ensure_service_users(vhost=vhost, passwords=passwords, prefix=f"{vhost}.")
    yield {s: f"amqp://{users[s]}:{passwords[s]}@{host}/{vhost}" for s in users} | {"guest": guest_url}
    for user in users.values():
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True, check=False)


async def test_the_broker_refuses_a_routing_key_the_publisher_does_not_own(service_urls):
    bus = Bus(service_urls["tickets"], service="tickets")
    await bus.start()
    assert await bus.wait_connected(10)
    try:
        with pytest.raises(Exception) as refused:  # noqa: PT011 - the channel closes: ACCESS_REFUSED
            await bus.publish(Envelope.wrap(triaged()))  # ticket.triaged belongs to triage
        assert "access_refused" in str(refused.value).lower() or "refused" in repr(refused.value).lower()
    finally:
        await bus.close()


async def test_consumers_dead_letter_events_their_publisher_does_not_own(service_urls):
    seen: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope)

    consumer = Bus(service_urls["triage"], service="triage")
    consumer.consume("triage", handler)
    tickets = Bus(service_urls["tickets"], service="tickets")
    for bus in (consumer, tickets):
        await bus.start()
        assert await bus.wait_connected(10)
    connection = await aio_pika.connect(service_urls["tickets"])
    guest = await aio_pika.connect(service_urls["guest"])
    try:
        genuine = Envelope.wrap(TicketCreated(ticket=_snapshot()))
        await tickets.publish(genuine)
        # tickets may publish on "ticket.created", but a user.updated inside it is not its to send
        forged = Envelope.wrap(
            UserUpdated(
                user_id=uuid.uuid4(), email="evil@example.test", name="Mo", role="admin", active=True, revision=9
            )
        )
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        user = service_urls["tickets"].split("//")[1].split(":")[0]
        await exchange.publish(
            aio_pika.Message(forged.model_dump_json().encode(), user_id=user), routing_key="ticket.created"
        )
        # an administrator's message without a user id is nobody's either
        anonymous = Envelope.wrap(TicketCreated(ticket=_snapshot()))
        guest_exchange = await (await guest.channel()).get_exchange(EXCHANGE)
        await guest_exchange.publish(
            aio_pika.Message(anonymous.model_dump_json().encode()), routing_key="ticket.created"
        )

        async def dead_lettered() -> int:
            channel = await guest.channel()
            queue = await channel.declare_queue(dead_letter_queue("triage"), passive=True)
            count = queue.declaration_result.message_count or 0
            await channel.close()
            return count

        await wait_for(lambda: asyncio.sleep(0, result=len(seen) >= 1), message="the genuine event")
        await wait_for(lambda: dead_lettered_at_least(dead_lettered, 2), message="two dead letters")
        assert [e.id for e in seen] == [genuine.id]
        # nor does a dead-letter handler act on them (triage's fails a dead ticket.created to an admin)
        dead: list[Envelope] = []

        async def on_dead(envelope: Envelope) -> None:
            dead.append(envelope)

        reader = Bus(service_urls["triage"], service="triage")
        reader.consume("triage", on_dead, dead_letters=True)
        await reader.start()
        try:
            assert await reader.wait_connected(10)
            await wait_for(lambda: dead_lettered_is_zero(dead_lettered), message="the forged dead letters dropped")
            await asyncio.sleep(1)  # a message taken but not yet handled is not counted
            assert dead == []
        finally:
            await reader.close()
    finally:
        for bus in (consumer, tickets):
            await bus.close()
        for conn in (connection, guest):
            with contextlib.suppress(Exception):
                await conn.close()


async def _declare(url: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        await declare_topology(await connection.channel())
    finally:
        await connection.close()


async def dead_lettered_is_zero(count) -> bool:
    return await count() == 0


async def dead_lettered_at_least(count, n: int) -> bool:
    return await count() >= n


def _snapshot():
    from datetime import UTC, datetime

    from shared.events import TicketSnapshot, UserRef

    now = datetime.now(UTC)
    return TicketSnapshot(
        id=uuid.uuid4(),
        title="t",
        description="d",
        status="open",
        priority=None,
        category=None,
        created_by=UserRef(id=uuid.uuid4(), name="A", email="a@example.test"),
        created_at=now,
        updated_at=now,
    )
