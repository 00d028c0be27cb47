"""Builders of the events the notifier consumes (shared.events models, as the bus carries them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import (
    Actor,
    Assignee,
    Envelope,
    FieldChange,
    TicketSnapshot,
    TicketTriageFailed,
    TicketUpdated,
    UserRef,
    UserRegistered,
    UserUpdated,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def user_ref(name: str = "Rita Requester", email: str | None = None) -> UserRef:
    uid = uuid.uuid4()
    return UserRef(id=uid, name=name, email=email or f"{name.split()[0].lower()}-{uid.hex[:6]}@example.test")


def snapshot(
    *,
    requester: UserRef | None = None,
    assignee: UserRef | None = None,
    status: str = "open",
    ticket_id: uuid.UUID | None = None,
    **fields: Any,
) -> TicketSnapshot:
    values: dict[str, Any] = {
        "id": ticket_id or uuid.uuid4(),
        "title": "Printer on fire",
        "description": "It burns since this morning.",
        "status": status,
        "priority": "high",
        "category": "Hardware",
        "related_skills": ["printers"],
        "helpful_notes": "Check the toner first.",
        "created_by": requester or user_ref(),
        "assigned_to": assignee,
        "due_at": NOW + timedelta(hours=4),
        "created_at": NOW,
        "updated_at": NOW,
        "triage_state": "done",
        "assignment_reason": "skills match: printers; 2 open tickets",
    }
    values.update(fields)
    return TicketSnapshot(**values)


def assigned(
    ticket: TicketSnapshot,
    *,
    version: int = 2,
    previous: UserRef | None = None,
    actor: Actor | None = None,
) -> Envelope:
    assert ticket.assigned_to is not None
    return Envelope.wrap(
        TicketUpdated(
            ticket=ticket,
            version=version,
            actor=actor or Actor(kind="system"),
            changes={
                "assigned_to": FieldChange(old=str(previous.id) if previous else None, new=str(ticket.assigned_to.id))
            },
        ),
        correlation_id="test-corr",
    )


def status_changed(ticket: TicketSnapshot, *, old: str, version: int = 3, actor: Actor | None = None) -> Envelope:
    return Envelope.wrap(
        TicketUpdated(
            ticket=ticket,
            version=version,
            actor=actor or Actor(kind="user", id=uuid.uuid4(), role="moderator", name="Mo"),
            changes={"status": FieldChange(old=old, new=ticket.status)},
        )
    )


def registered(
    *,
    role: str = "user",
    name: str = "New User",
    email: str | None = None,
    user_id: uuid.UUID | None = None,
    verified: bool = True,
    verification_token: str | None = None,
    password_setup_token: str | None = None,
) -> Envelope:
    """A user.registered; verified unless told otherwise (an account whose owner used the link)."""
    uid = user_id or uuid.uuid4()
    return Envelope.wrap(
        UserRegistered(
            user_id=uid,
            email=email or f"{name.split()[0].lower()}-{uid.hex[:6]}@example.test",
            name=name,
            role=role,  # type: ignore[arg-type]
            created_at=NOW,
            email_verified=verified,
            verification_token=verification_token,
            password_setup_token=password_setup_token,
        )
    )


def updated_user(registration: Envelope, *, revision: int, **changes: Any) -> Envelope:
    data = registration.data
    values: dict[str, Any] = {
        "user_id": data["user_id"],
        "email": data["email"],
        "name": data["name"],
        "role": data["role"],
        "revision": revision,
    }
    values.update(changes)
    return Envelope.wrap(UserUpdated(**values))


def triage_failed(
    *,
    ticket_id: uuid.UUID | None = None,
    reason: str = "gemini: 503 five times",
    title: str | None = "Printer on fire",
    fallback: Assignee | None = None,
) -> Envelope:
    return Envelope.wrap(
        TicketTriageFailed(
            ticket_id=ticket_id or uuid.uuid4(),
            attempt=1,
            reason=reason,
            title=title,
            fallback_assignee=fallback,
        )
    )
