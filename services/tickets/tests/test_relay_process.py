"""OUTBOX_RELAY=off: the API still writes each event with its ticket, and the separate relay
process (tickets.relay) publishes it; the API answers whether or not that process runs."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aio_pika
import asyncpg
from helpdesk_testing.plugin import app_client, wait_for
from shared.migrations import upgrade
from tickets import relay
from tickets.app import create_app
from tickets.settings import TicketsSettings

INI = Path(__file__).resolve().parents[1] / "alembic.ini"


async def test_the_api_without_its_relay_writes_the_outbox_and_the_relay_process_publishes_it(
    make_database, make_vhost, jwt_keys
):
    # its own database: the session app's in-process relay must not publish these rows
    db = await make_database()
    await upgrade(INI, db.url("tickets"))
    settings = TicketsSettings(
        environment="test",
        database_url=db.url("tickets"),
        rabbitmq_url=make_vhost(),
        jwt_public_key=jwt_keys.public_pem,
        outbox_relay="off",
    )
    headers = {"Authorization": f"Bearer {jwt_keys.token(user_id=uuid.uuid4())}"}
    conn = await asyncpg.connect(db.admin_url())
    try:
        async with app_client(create_app(settings)) as api:
            assert api._transport.app.state.runtime.relay is None  # type: ignore[attr-defined]
            r = await api.post("/api/tickets", json={"title": "Relay apart", "description": "d"}, headers=headers)
            assert r.status_code == 201, r.text
            ticket_id = r.json()["id"]
            await asyncio.sleep(1.0)  # an in-process relay would have published it by now
            row = await conn.fetchrow("SELECT routing_key, envelope, published_at FROM tickets.outbox")
            assert row["routing_key"] == "ticket.created"
            assert json.loads(row["envelope"])["data"]["ticket"]["id"] == ticket_id
            assert row["published_at"] is None

            async with app_client(relay.create_app(settings)) as relay_process:
                assert (await relay_process.get("/healthz")).status_code == 200
                await wait_for(
                    lambda: conn.fetchval("SELECT published_at IS NOT NULL FROM tickets.outbox"),
                    timeout=15,
                    message="the relay process marked the row sent",
                )
            # the relay is gone again: the API still creates (and keeps the event for later)
            r = await api.post("/api/tickets", json={"title": "Second", "description": "d"}, headers=headers)
            assert r.status_code == 201, r.text
        assert await conn.fetchval("SELECT count(*) FROM tickets.outbox WHERE published_at IS NULL") == 1
        broker = await aio_pika.connect(settings.rabbitmq_url)
        try:
            queue = await (await broker.channel()).get_queue("triage", ensure=True)
            message = await queue.get(no_ack=True, fail=False)
            assert message is not None, "nothing reached the triage queue"
            envelope = json.loads(message.body)
            assert (envelope["type"], envelope["data"]["ticket"]["id"]) == ("ticket.created", ticket_id)
        finally:
            await broker.close()
    finally:
        await conn.close()
