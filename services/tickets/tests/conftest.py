"""One database (through the real migrations) and one vhost for the tickets tests; tables are
truncated between tests. `kit` makes people with tokens, tickets, and triage results."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from helpdesk_testing.plugin import JwtKeys, TestDatabase, app_client, bearer
from shared.events import Assignee, Envelope, TicketTriaged, TicketTriageFailed
from shared.migrations import upgrade
from tickets.app import create_app
from tickets.settings import TicketsSettings

INI = Path(__file__).resolve().parents[1] / "alembic.ini"
TABLES = (
    "tickets.comments, tickets.ticket_history, tickets.tickets, tickets.people, tickets.outbox,"
    " tickets.processed_messages, tickets.inbound_mail, tickets.attachments, tickets.stats_days,"
    " tickets.incident_log, tickets.incidents"
)


@pytest.fixture(scope="session")
async def db(make_database: Any) -> TestDatabase:
    database: TestDatabase = await make_database()
    await upgrade(INI, database.url("tickets"))
    return database


@pytest.fixture(scope="session")
def vhost(make_vhost: Any) -> str:
    return str(make_vhost())


@pytest.fixture(scope="session")
def settings(db: TestDatabase, vhost: str, jwt_keys: JwtKeys) -> TicketsSettings:
    return TicketsSettings(
        environment="test",
        database_url=db.url("tickets"),
        rabbitmq_url=vhost,
        jwt_public_key=jwt_keys.public_pem,
        create_quota=1000,
    )


@pytest.fixture(scope="session")
async def app_and_client(settings: TicketsSettings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app_client(app) as client:
        yield app, client


@pytest.fixture
async def admin_db(db: TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection for assertions and setup (never used by the service)."""
    conn = await asyncpg.connect(db.admin_url())
    # DELETE beats TRUNCATE on tables this small (no file swaps)
    await conn.execute("; ".join(f"DELETE FROM {table}" for table in TABLES.split(", ")))  # noqa: S608
    yield conn
    await conn.close()


@pytest.fixture
def client(app_and_client: tuple[Any, httpx.AsyncClient], admin_db: asyncpg.Connection) -> httpx.AsyncClient:
    return app_and_client[1]


@dataclass
class Person:
    id: uuid.UUID
    role: str
    name: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def assignee(self) -> Assignee:
        return Assignee(id=self.id, name=self.name, email=self.email, role=self.role)  # type: ignore[arg-type]


class Kit:
    def __init__(self, app: Any, client: httpx.AsyncClient, jwt_keys: JwtKeys, db: asyncpg.Connection) -> None:
        self.app = app
        self.client = client
        self.jwt_keys = jwt_keys
        self.db = db

    def person(self, role: str = "user", name: str | None = None) -> Person:
        person_id = uuid.uuid4()
        name = name or f"{role.title()} {person_id.hex[:4]}"
        email = f"{person_id.hex[:8]}@example.test"
        token = self.jwt_keys.token(role=role, user_id=person_id, email=email, name=name)
        return Person(person_id, role, name, email, token)

    async def create(
        self, who: Person, title: str = "Printer on fire", description: str = "Smoke everywhere"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/tickets", json={"title": title, "description": description}, headers=who.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def handler(self) -> Any:
        from tickets import events

        return events.Consumer(sessions=self.app.state.runtime.sessions, settings=self.app.state.settings).handle

    async def deliver(self, envelope: Envelope) -> None:
        """Hand an envelope to the service's consumer as the bus would (real DB, same transaction rules)."""
        await self.handler()(envelope)

    async def triage(self, ticket_id: str | uuid.UUID, assignee: Person | None, **fields: Any) -> Envelope:
        """Deliver the ticket.triaged event `triaged` builds."""
        envelope = self.triaged(ticket_id, assignee, **fields)
        await self.deliver(envelope)
        return envelope

    def triaged(
        self,
        ticket_id: str | uuid.UUID,
        assignee: Person | None,
        *,
        attempt: int = 1,
        priority: str = "high",
        category: str = "Hardware",
        waiting_for: tuple[Person, ...] = (),
    ) -> Envelope:
        """The ticket.triaged event triage would send (`triage` delivers it too)."""
        return Envelope.wrap(
            TicketTriaged(
                ticket_id=uuid.UUID(str(ticket_id)),
                attempt=attempt,
                category=category,
                priority=priority,  # type: ignore[arg-type]
                related_skills=["printers"],
                summary="A printer is burning",
                helpful_notes="Unplug it first",
                confidence=0.8,
                provider="local",
                model="nb-1",
                assignee=assignee.assignee() if assignee else None,
                assignment_reason="skills: printers",
                waiting_for=[p.id for p in waiting_for],
            )
        )

    async def triage_failed(self, ticket_id: str | uuid.UUID, admin: Person | None, *, attempt: int = 1) -> Envelope:
        envelope = Envelope.wrap(
            TicketTriageFailed(
                ticket_id=uuid.UUID(str(ticket_id)),
                attempt=attempt,
                reason="analyzer unavailable; assigned to an admin",
                fallback_assignee=admin.assignee() if admin else None,
            )
        )
        await self.deliver(envelope)
        return envelope

    async def events(self, routing_key: str, ticket_id: str | uuid.UUID | None = None) -> list[dict[str, Any]]:
        """Outbox envelopes of this type (for this ticket), oldest first."""
        rows = await self.db.fetch(
            "SELECT envelope::text AS e FROM tickets.outbox WHERE routing_key = $1 ORDER BY created_at", routing_key
        )
        import json

        found = [json.loads(r["e"]) for r in rows]
        if ticket_id is not None:
            found = [
                e
                for e in found
                if (e["data"].get("ticket") or {}).get("id", e["data"].get("ticket_id")) == str(ticket_id)
            ]
        return found


@pytest.fixture
def kit(app_and_client: tuple[Any, httpx.AsyncClient], admin_db: asyncpg.Connection, jwt_keys: JwtKeys) -> Kit:
    return Kit(app_and_client[0], app_and_client[1], jwt_keys, admin_db)
