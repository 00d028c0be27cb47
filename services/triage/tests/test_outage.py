"""Triage's database cut for far longer than the old delivery budget while tickets flow:
the consumer pauses (not ready, still alive), resumes within seconds of the database coming
back, and every ticket is triaged normally; nothing is dead-lettered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aio_pika
import asyncpg
from helpdesk_testing.plugin import TestDatabase, app_client, wait_for
from helpdesk_testing.proxy import TcpProxy
from shared.bus import dead_letter_queue
from triage.app import create_app
from triage.settings import TriageSettings

from .helpers import Probe, created, user_registered
from .test_flow import wait_staff

# The old budget: 5 deliveries 0.2-3.2 s apart, about 7 s. The outage lasts five times that.
OUTAGE_S = 35.0
TICKETS = 30


async def test_a_long_database_outage_dead_letters_nothing(
    make_settings: Callable[..., TriageSettings], probe: Probe, triage_db: TestDatabase, vhost: str
) -> None:
    proxy = await TcpProxy(triage_db.host, triage_db.port).start()
    settings = make_settings(database_url=triage_db.url("triage", host="127.0.0.1", port=proxy.port))
    try:
        async with app_client(create_app(settings)) as client:
            admin = user_registered(role="admin", name="Ada")
            await probe.publish(admin)
            await wait_staff(triage_db, admin.user_id)
            before = created("Before the outage", "printer jams")
            await probe.publish(before)
            await probe.wait_about(before.ticket.id)

            await proxy.cut()
            tickets = []
            cut_at = time.monotonic()
            for i in range(TICKETS):  # tickets keep coming while the database is away
                event = created(f"Ticket {i} during the outage", "VPN drops every hour")
                await probe.publish(event)
                tickets.append(event.ticket.id)
                await asyncio.sleep(OUTAGE_S / 2 / TICKETS)
            paused = await client.get("/readyz")
            assert paused.status_code == 503
            assert paused.json()["checks"]["consuming"] is False
            assert (await client.get("/healthz")).status_code == 200  # waiting, not stuck
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
            assert not [t for t in tickets if probe.about(t)]  # nothing happened meanwhile

            await proxy.restore()
            restored = time.monotonic()

            async def resumed() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_for(resumed, timeout=10, interval=0.2, message="ready within 10 s")
            for ticket_id in tickets:
                (event,) = await probe.wait_about(ticket_id, timeout=30)
                assert event.type == "ticket.triaged", event.data
            assert time.monotonic() - restored < 30
    finally:
        await proxy.close()

    connection = await aio_pika.connect(vhost)
    try:
        channel = await connection.channel()
        dlq = await channel.get_queue(dead_letter_queue("triage"), ensure=True)
        assert await dlq.get(no_ack=True, fail=False) is None
    finally:
        await connection.close()
    conn = await asyncpg.connect(triage_db.admin_url())
    try:
        failed = await conn.fetchval("SELECT count(*) FROM triage.dead_letters")
    finally:
        await conn.close()
    assert failed == 0
