"""Helpers of the triage tests: a bus probe and builders of the events triage consumes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from helpdesk_testing.plugin import wait_for
from shared.bus import Bus
from shared.db import transaction
from shared.events import (
    Actor,
    Envelope,
    EventData,
    FieldChange,
    TicketCreated,
    TicketSnapshot,
    TicketUpdated,
    UserRef,
    UserRegistered,
    UserUpdated,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage.models import Staff


class Probe:
    """Publishes events into the vhost and collects what triage publishes (queue `tickets`)."""

    def __init__(self, url: str) -> None:
        self.bus = Bus(url, service="probe")
        self.received: list[Envelope] = []
        self.bus.consume("tickets", self._collect)

    async def _collect(self, envelope: Envelope) -> None:
        self.received.append(envelope)

    async def publish(self, data: EventData | Envelope) -> Envelope:
        envelope = data if isinstance(data, Envelope) else Envelope.wrap(data)
        await self.bus.publish(envelope)
        return envelope

    def about(self, ticket_id: uuid.UUID) -> list[Envelope]:
        return [e for e in self.received if e.data.get("ticket_id") == str(ticket_id)]

    async def wait_about(self, ticket_id: uuid.UUID, count: int = 1, timeout: float = 15.0) -> list[Envelope]:
        async def ready() -> list[Envelope] | None:
            got = self.about(ticket_id)
            return got if len(got) >= count else None

        result: list[Envelope] = await wait_for(ready, timeout=timeout, message=f"triage of {ticket_id}")
        return result


# --- event builders ---------------------------------------------------------------------------


def user_registered(
    *, role: str, name: str, skills: list[str] | None = None, user_id: uuid.UUID | None = None
) -> UserRegistered:
    uid = user_id or uuid.uuid4()
    return UserRegistered(
        user_id=uid,
        email=f"{name.lower()}@example.test",
        name=name,
        role=role,
        skills=skills or [],
        created_at=datetime.now(UTC),
    )  # type: ignore[arg-type]


def user_updated(reg: UserRegistered, *, revision: int, **changes: Any) -> UserUpdated:
    values = {
        "user_id": reg.user_id,
        "email": reg.email,
        "name": reg.name,
        "role": reg.role,
        "skills": reg.skills,
        "revision": revision,
    }
    values.update(changes)
    return UserUpdated(**values)


def snapshot(*, title: str, description: str, ticket_id: uuid.UUID | None = None, **fields: Any) -> TicketSnapshot:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": ticket_id or uuid.uuid4(),
        "title": title,
        "description": description,
        "status": "open",
        "created_by": UserRef(id=uuid.uuid4(), name="Cus", email="c@x.test"),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return TicketSnapshot(**values)


def created(title: str, description: str, **fields: Any) -> TicketCreated:
    return TicketCreated(ticket=snapshot(title=title, description=description, **fields))


def updated(snap: TicketSnapshot, *, version: int, actor: Actor, **changes: Any) -> TicketUpdated:
    old = snap.model_dump()
    if isinstance(changes.get("assigned_to"), dict):
        changes["assigned_to"] = UserRef(**changes["assigned_to"])
    new = TicketSnapshot.model_validate({**snap.model_dump(), **changes})
    diff = {
        k: FieldChange(old=old.get(k), new=v if not hasattr(v, "model_dump") else v.model_dump(mode="json"))
        for k, v in changes.items()
    }
    return TicketUpdated(ticket=new, version=version, actor=actor, changes=diff)


def human(role: str = "moderator") -> Actor:
    return Actor(kind="user", id=uuid.uuid4(), role=role, name="Human")  # type: ignore[arg-type]


SYSTEM = Actor(kind="system")


async def settle(seconds: float = 0.3) -> None:
    """Give in-flight handlers a moment (only where nothing observable can be awaited)."""
    await asyncio.sleep(seconds)


async def wait_copy_version(db: Any, ticket_id: uuid.UUID, version: int) -> None:
    """Wait until triage's copy of the ticket reached `version` (ticket.updated leaves no mark)."""
    import asyncpg

    async def done() -> bool:
        conn = await asyncpg.connect(db.admin_url())
        try:
            found = await conn.fetchval("SELECT version FROM triage.tickets WHERE ticket_id = $1", ticket_id)
        finally:
            await conn.close()
        return found is not None and found >= version

    await wait_for(done, timeout=15, message=f"copy of {ticket_id} at version {version}")


async def add_staff(
    sessions: async_sessionmaker[AsyncSession],
    *,
    name: str,
    skills: list[str],
    role: str = "moderator",
    open_count: int = 0,
    capacity: int | None = None,
) -> uuid.UUID:
    """A moderator or admin in triage's staff copy, as `user.updated` would have written them."""
    uid = uuid.uuid4()
    async with transaction(sessions) as s:
        s.add(
            Staff(
                user_id=uid,
                email=f"{name}@x.test",
                name=name,
                role=role,
                skills=skills,
                active=True,
                open_count=open_count,
                capacity=capacity,
                revision=0,
            )
        )
    return uid
