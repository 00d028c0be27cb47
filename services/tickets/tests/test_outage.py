"""No ticket is lost while the broker is away: 201 at once, the event goes out when it is back."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aio_pika
import asyncpg
from helpdesk_testing.plugin import app_client, wait_for
from helpdesk_testing.proxy import TcpProxy
from shared.migrations import upgrade
from tickets.app import create_app
from tickets.settings import TicketsSettings

INI = Path(__file__).resolve().parents[1] / "alembic.ini"


def through(url: str, proxy: TcpProxy) -> str:
    head, vhost = url.rsplit("/", 1)
    return f"{head.split('@')[0]}@127.0.0.1:{proxy.port}/{vhost}"


async def created_on_triage_queue(url: str, ticket_id: str, timeout: float = 20) -> dict:
    """Take messages off the "triage" queue until the ticket.created of this ticket shows up."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue("triage", ensure=True)

        async def find():
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                envelope = json.loads(message.body)
                if envelope["type"] == "ticket.created" and envelope["data"]["ticket"]["id"] == ticket_id:
                    return envelope
            return None

        return await wait_for(find, timeout=timeout, interval=0.2, message=f"ticket.created of {ticket_id}")
    finally:
        await connection.close()


async def test_creation_while_the_broker_is_cut(make_database, make_vhost, jwt_keys):
    # its own database: the session app's relay must not publish these rows elsewhere
    db = await make_database()
    await upgrade(INI, db.url("tickets"))
    vhost = make_vhost()
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    await proxy.cut()  # down before the service even starts
    settings = TicketsSettings(
        environment="test",
        database_url=db.url("tickets"),
        rabbitmq_url=through(vhost, proxy),
        jwt_public_key=jwt_keys.public_pem,
    )
    user = uuid.uuid4()
    headers = {"Authorization": f"Bearer {jwt_keys.token(user_id=user)}"}
    try:
        async with app_client(create_app(settings)) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["broker"] is False
            r = await asyncio.wait_for(
                client.post("/api/tickets", json={"title": "No broker", "description": "still fine"}, headers=headers),
                timeout=5,
            )
            assert r.status_code == 201, r.text
            first = r.json()["id"]
            await asyncio.sleep(1.5)
            conn = await __import__("asyncpg").connect(db.admin_url())
            try:
                unsent = await conn.fetchval("SELECT count(*) FROM tickets.outbox WHERE published_at IS NULL")
                assert unsent == 1
                await proxy.restore()
                await wait_for(
                    lambda: conn.fetchval("SELECT count(*) = 0 FROM tickets.outbox WHERE published_at IS NULL"),
                    timeout=20,
                    message="outbox marked sent",
                )
                await created_on_triage_queue(vhost, first)
                # and once more, the broker vanishing under a running service
                await proxy.cut()
                r = await asyncio.wait_for(
                    client.post("/api/tickets", json={"title": "Cut again", "description": "x"}, headers=headers),
                    timeout=5,
                )
                assert r.status_code == 201, r.text
                second = r.json()["id"]
                await asyncio.sleep(1.0)
                assert (
                    await conn.fetchval(
                        "SELECT published_at FROM tickets.outbox WHERE routing_key = 'ticket.created'"
                        " AND envelope->'data'->'ticket'->>'id' = $1",
                        second,
                    )
                    is None
                )
                await proxy.restore()
                envelope = await created_on_triage_queue(vhost, second, timeout=30)
                assert envelope["data"]["ticket"]["triage_state"] == "pending"
            finally:
                await conn.close()
    finally:
        await proxy.close()


async def test_creation_while_the_database_is_cut_answers_503_and_recovers(make_database, make_vhost, jwt_keys):
    """A create sent while the database is out of reach is a clean 503 (retry later, nothing was
    stored), not a 500; once it is back the same request succeeds."""
    db = await make_database()
    await upgrade(INI, db.url("tickets"))
    proxy = await TcpProxy(db.host, db.port).start()
    settings = TicketsSettings(
        environment="test",
        database_url=db.url("tickets", host="127.0.0.1", port=proxy.port),
        rabbitmq_url=make_vhost(),
        jwt_public_key=jwt_keys.public_pem,
    )
    headers = {"Authorization": f"Bearer {jwt_keys.token(user_id=uuid.uuid4())}"}
    body = {"title": "Printer on fire", "description": "Smoke everywhere"}
    try:
        async with app_client(create_app(settings)) as client:
            assert (await client.post("/api/tickets", json=body, headers=headers)).status_code == 201
            await proxy.cut()  # the pooled connections break under the open pool
            for _ in range(3):
                response = await client.post("/api/tickets", json=body, headers=headers)
                assert response.status_code == 503, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert "asyncpg" not in response.text
            await proxy.restore()
            response = await wait_for(
                lambda: _created(client, body, headers), timeout=15, interval=0.3, message="a create after the cut"
            )
            assert response.status_code == 201, response.text
    finally:
        await proxy.close()
    conn = await asyncpg.connect(db.admin_url())
    try:
        assert await conn.fetchval("SELECT count(*) FROM tickets.tickets") == 2
    finally:
        await conn.close()


async def _created(client, body, headers):
    response = await client.post("/api/tickets", json=body, headers=headers)
    return response if response.status_code == 201 else None
