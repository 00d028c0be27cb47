"""Issue 13, items 1, 3 and 10 on the running stack: forged events, revoked tokens, secrets.

- events published with another service's broker credentials are refused by the broker (topic
  permissions, validated user_id), and what the broker lets through is dead-lettered by consumers;
- a demoted admin's token is refused on every service's own port within 60 s;
- each process has only its own secrets, and each database role a scram password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest
from shared.events import Assignee, Envelope, TicketTriaged

from .conftest import Person, World, login, promote, signup

SERVICES = ("auth", "tickets", "triage", "notifier")


def broker_url(world: World, user: str | None) -> str:
    """AMQP URL of a service's broker user on the stack (None: the administrator, guest)."""
    stack = world.stack
    if user is None:
        return f"amqp://guest:guest@127.0.0.1:5672/{stack.vhost}"
    password = stack.env[f"{user.upper()}_RABBITMQ_PASSWORD"]
    return f"amqp://{stack.vhost}.{user}:{password}@127.0.0.1:5672/{stack.vhost}"


def forged_triage(world: World) -> Envelope:
    """The attack of the report: assign the ticket to the moderator, with the attacker's address."""
    mod = world.mod
    return Envelope.wrap(
        TicketTriaged(
            ticket_id=uuid.UUID(world.ticket["id"]),
            attempt=world.ticket.get("triage_attempt", 1) + 1,
            category="Billing",
            priority="low",
            confidence=1.0,
            provider="local",
            model="forged",
            assignee=Assignee(id=uuid.UUID(mod.id), name="Mallory", email="attacker@evil.test", role="moderator"),
            assignment_reason="forged",
        )
    )


async def publish(
    url: str, envelope: Envelope, *, routing_key: str | None = None, user_id: str | None = None
) -> str | None:
    """Publish one message with confirms; the broker's refusal as text, or None when it took it."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("helpdesk.events")
        try:
            await exchange.publish(
                aio_pika.Message(envelope.model_dump_json().encode(), type=envelope.type, user_id=user_id),
                routing_key=routing_key or envelope.type,
                timeout=10,
            )
        except (TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            return repr(exc)
        await asyncio.sleep(0.3)  # a refusal closes the channel right after the publish
        return "channel closed" if channel.is_closed else None
    finally:
        await connection.close()


def test_another_services_broker_user_cannot_publish_its_events(world: World) -> None:
    forged = forged_triage(world)
    for user in ("notifier", "gateway", "tickets", "auth"):
        refusal = asyncio.run(publish(broker_url(world, user), forged, user_id=f"{world.stack.vhost}.{user}"))
        assert refusal is not None, f"{user} could publish ticket.triaged"
        assert "ACCESS_REFUSED" in refusal or "closed" in refusal, refusal
    # nor may anyone claim to be triage: the broker checks user_id against the login
    refusal = asyncio.run(
        publish(
            broker_url(world, "tickets"), forged, routing_key="ticket.updated", user_id=f"{world.stack.vhost}.triage"
        )
    )
    assert refusal is not None


def test_consumers_dead_letter_events_their_publisher_does_not_own(world: World) -> None:
    before = world.client.get(f"/api/tickets/{world.ticket['id']}", headers=world.admin.headers).json()
    # the broker administrator sends the forged triage result without a user id
    forged = forged_triage(world)
    assert asyncio.run(publish(broker_url(world, None), forged)) is None
    # tickets may publish on ticket.updated, but not a ticket.triaged inside it
    smuggled = forged_triage(world)
    assert (
        asyncio.run(
            publish(
                broker_url(world, "tickets"),
                smuggled,
                routing_key="ticket.updated",
                user_id=f"{world.stack.vhost}.tickets",
            )
        )
        is None
    )
    # each consumer logs the refusal (the dead letter itself may be taken by a dead-letter
    # consumer, which drops forged ones: shared.bus)
    wanted = {("tickets", str(forged.id)), ("triage", str(smuggled.id)), ("notifier", str(smuggled.id))}
    deadline = time.monotonic() + 20
    found: set[tuple[str, str]] = set()
    while not wanted <= found and time.monotonic() < deadline:
        for service, event_id in wanted:
            log = (world.stack.var / "log" / f"{service}.log").read_text(errors="replace")
            if any("event_forged" in line and event_id in line for line in log.splitlines()):
                found.add((service, event_id))
        time.sleep(0.5)
    assert wanted <= found, f"not refused: {wanted - found}"
    time.sleep(1)  # what a consumer had applied would show by now
    after = world.client.get(f"/api/tickets/{world.ticket['id']}", headers=world.admin.headers).json()
    assert after["assigned_to"] == before["assigned_to"]
    assert after["assigned_to"]["email"] != "attacker@evil.test"
    assert after["priority"] == before["priority"]


def service_checks(world: World) -> dict[str, tuple[str, str]]:
    """An admin-only (or any caller's) GET on each service's own port, and on the gateway."""
    stack = world.stack
    return {
        "auth": (stack.service_url("auth"), "/api/auth/users"),
        "tickets": (stack.service_url("tickets"), "/api/tickets"),
        "triage": (stack.service_url("triage"), "/api/triage/categories"),
        "notifier": (stack.service_url("notifier"), "/api/notifications/preferences"),
        "gateway": (stack.base_url, "/api/triage/categories"),
    }


def test_a_demoted_admins_token_is_refused_by_every_service_within_60_s(world: World) -> None:
    client = world.client
    deputy: Person = promote(client, world.admin, signup(client, "deputy"), "admin", [], mail_dir=world.stack.mail_dir)
    checks = service_checks(world)
    for name, (base, path) in checks.items():
        r = httpx.get(base + path, headers=deputy.headers, timeout=10)
        assert r.status_code == 200, (name, r.status_code, r.text)
    r = client.post("/api/auth/update-user", headers=world.admin.headers, json={"email": deputy.email, "role": "user"})
    assert r.status_code == 200, r.text
    demoted_at = time.monotonic()
    pending = dict(checks)
    while pending and time.monotonic() - demoted_at < 60:
        for name, (base, path) in list(pending.items()):
            if httpx.get(base + path, headers=deputy.headers, timeout=10).status_code == 401:
                del pending[name]
        time.sleep(0.5)
    assert not pending, f"still accepted after 60 s: {sorted(pending)}"
    # a deactivated user cannot file tickets on the tickets port either
    user = login(client, signup(client, "leaver"))
    r = client.post("/api/auth/update-user", headers=world.admin.headers, json={"email": user.email, "active": False})
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while True:
        r = httpx.post(
            world.stack.service_url("tickets") + "/api/tickets",
            headers=user.headers,
            json={"title": "still here", "description": "after deactivation"},
            timeout=10,
        )
        if r.status_code == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.status_code == 401, r.text


def process_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def test_only_auth_holds_the_jwt_private_key_and_each_process_its_own_broker_user(world: World) -> None:
    stack = world.stack
    users = {}
    for name in (*SERVICES, "gateway", "smtp-sink"):
        pid = stack.pid(name)
        assert pid is not None, name
        env = process_environ(pid)
        assert ("JWT_PRIVATE_KEY" in env) == (name == "auth"), name
        assert not [k for k in env if k.endswith("_RABBITMQ_PASSWORD")], name
        if name != "smtp-sink":
            users[name] = env["RABBITMQ_URL"].split("//", 1)[1].split(":", 1)[0]
    assert users == {name: f"{stack.vhost}.{name}" for name in (*SERVICES, "gateway")}


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a Postgres SCRAM-SHA-256 verifier was made from `password` (RFC 5802)."""
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256"
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored_key, server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    return (
        base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
        and base64.b64encode(server).decode() == server_key
    )


def test_each_database_role_has_the_scram_password_its_service_connects_with(world: World) -> None:
    """The machine's Postgres trusts loopback, so a wrong password is not refused here; what we can
    check honestly is that each role has a SCRAM verifier and that it is the password its own
    process's DATABASE_URL carries (compose's Postgres does check passwords)."""
    stack = world.stack

    async def verifiers() -> dict[str, str]:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            rows = await conn.fetch(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)",
                [f"helpdesk_{s}" for s in SERVICES],
            )
        finally:
            await conn.close()
        return {r["rolname"]: r["rolpassword"] for r in rows}

    try:
        found = asyncio.run(verifiers())
    except asyncpg.PostgresError as exc:
        pytest.skip(f"pg_authid is not readable here: {exc}")
    for service in SERVICES:
        url = process_environ(stack.pid(service) or 0)[f"{service.upper()}_DATABASE_URL"]
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        verifier = found[f"helpdesk_{service}"]
        assert verifier, service
        assert verifier.startswith("SCRAM-SHA-256$"), service
        # the roles are the machine's, shared by every local instance: the last setup's password wins
        assert scram_matches(verifier, password), service
