"""Helpers of the auth tests: database access for assertions, an event tap, API shortcuts."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import aio_pika
import asyncpg
from auth.passwords import make_hasher
from helpdesk_testing.plugin import JwtKeys, bearer, wait_for
from shared.bus import declare_topology
from shared.events import EXCHANGE, Envelope
from shared.jwt import issue_purpose_token

PASSWORD = "correct horse battery"
# made once: inserting users with it is much quicker than signing them up
PASSWORD_HASH = make_hasher().hash(PASSWORD)


class Db:
    """Superuser access to the test database, for arranging and asserting only."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def execute(self, sql: str, *args: Any) -> str:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.execute(sql, *args)  # type: ignore[no-any-return]
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(sql, *args)  # type: ignore[no-any-return]
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def reset(self) -> None:
        await self.execute("TRUNCATE auth.users, auth.login_throttle, auth.outbox")


class EventTap:
    """A private queue bound to user.* on the test vhost: what auth really published."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[Envelope] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> EventTap:
        self._connection = await aio_pika.connect_robust(self.url)
        channel = await self._connection.channel()
        await declare_topology(channel)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        exchange = await channel.get_exchange(EXCHANGE)
        await queue.bind(exchange, routing_key="user.*")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.received.append(Envelope.model_validate(json.loads(message.body)))

        await queue.consume(on_message)
        return self

    def of(self, event_type: str, user_id: str | uuid.UUID | None = None) -> list[Envelope]:
        return [
            e for e in self.received if e.type == event_type and (user_id is None or e.data["user_id"] == str(user_id))
        ]

    async def wait(
        self, event_type: str, user_id: str | uuid.UUID | None = None, *, count: int = 1, timeout: float = 15
    ) -> list[Envelope]:
        async def enough() -> list[Envelope] | None:
            found = self.of(event_type, user_id)
            return found if len(found) >= count else None

        return await wait_for(enough, timeout=timeout, message=f"{count} {event_type} event(s)")  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def signup(
    client: Any, email: str, password: str = PASSWORD, *, headers: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/signup", json={"email": email, "password": password, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def login(client: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_user(db: Db, keys: JwtKeys, email: str, role: str = "user", *, verified: bool = True) -> dict[str, str]:
    """A user made directly in the database (password PASSWORD) and the headers of a token for it.

    Quicker than signup + login (no argon2 run); the token is signed with the key auth uses.
    Verified unless told otherwise: it stands for an account whose owner already used the link.
    """
    user_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO auth.users (id, email, name, role, password_hash, email_verified) VALUES ($1, $2, $3, $4, $5, $6)",
        user_id,
        email,
        email.split("@")[0],
        role,
        PASSWORD_HASH,
        verified,
    )
    return bearer(keys.token(role=role, user_id=user_id, email=email))


async def verify_by_link(client: Any, keys: JwtKeys, user_id: str | uuid.UUID) -> dict[str, Any]:
    """Use the account's verification link, as its owner would (a token signed like auth's)."""
    token = issue_purpose_token(
        private_key_pem=keys.private_pem,
        issuer=keys.issuer,
        audience="helpdesk-email-verify",
        user_id=uuid.UUID(str(user_id)),
        ttl=timedelta(hours=1),
    )
    response = await client.post("/api/auth/verify", json={"token": token})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def verify_from_mail_event(client: Any, tap: EventTap, user_id: str | uuid.UUID) -> dict[str, Any]:
    """Use the verification link the user.registered event carried (what the notifier mails)."""
    [envelope] = await tap.wait("user.registered", user_id)
    token = envelope.data["verification_token"]
    assert token, envelope.data
    response = await client.post("/api/auth/verify", json={"token": token})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


ATTACKER = {"X-Forwarded-For": "198.51.100.66"}  # as the gateway (a trusted proxy) reports it
OWNER = {"X-Forwarded-For": "203.0.113.10"}
