"""How a ticket changes: the field setters, the history row, the version and the event.

Every change of a ticket (a caller's PATCH, a re-triage, a triage result) ends in `record_change`,
so history, version and the outbox event are written one way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.events import Actor, EventData, FieldChange, TicketSnapshot, TicketUpdated, UserRef
from shared.jwt import Principal
from shared.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import Ticket, TicketChange, outbox
from tickets.settings import TicketsSettings

SYSTEM = Actor(kind="system", name="triage")


def actor(principal: Principal) -> Actor:
    return Actor(kind="user", id=principal.id, role=principal.role, name=principal.name or None)


def _ref(person_id: uuid.UUID | None, name: str | None, email: str | None) -> UserRef | None:
    if person_id is None:
        return None
    return UserRef(id=person_id, name=name or "", email=email or "")


def snapshot(ticket: Ticket) -> TicketSnapshot:
    """The ticket as events carry it."""
    created_by = _ref(ticket.created_by_id, ticket.created_by_name, ticket.created_by_email)
    assert created_by is not None
    return TicketSnapshot(
        id=ticket.id,
        title=ticket.title,
        description=ticket.description,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        related_skills=list(ticket.related_skills or []),
        helpful_notes=ticket.helpful_notes,
        created_by=created_by,
        assigned_to=_ref(ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email),
        due_at=ticket.due_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        triage_state=ticket.triage_state,
        triage_attempt=ticket.triage_attempt,
        assignment_reason=ticket.assignment_reason,
        incident_id=ticket.incident_id,
    )


def assignee_value(ticket: Ticket) -> dict[str, str] | None:
    """The assignee as a history row and a FieldChange carry it."""
    if ticket.assigned_to_id is None:
        return None
    return {
        "id": str(ticket.assigned_to_id),
        "name": ticket.assigned_to_name or "",
        "email": ticket.assigned_to_email or "",
    }


async def record_change(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: Actor,
    changes: dict[str, FieldChange],
    now: datetime,
    event: Callable[[TicketSnapshot, int], EventData] | None = None,
) -> None:
    """Bump the version, write the history row and the event: ticket.updated, or what `event`
    makes of the changed ticket and its new version."""
    ticket.version += 1
    ticket.updated_at = now
    session.add(
        TicketChange(
            ticket_id=ticket.id,
            version=ticket.version,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_role=actor.role,
            changes={name: change.model_dump(mode="json") for name, change in changes.items()},
            created_at=now,
        )
    )
    # no flush here: the ticket's UPDATE and its history row are written with the transaction's
    # others (a batch of results: one executemany and one multi-row INSERT, not two per ticket)
    if event is None:
        data: EventData = TicketUpdated(ticket=snapshot(ticket), version=ticket.version, actor=actor, changes=changes)
    else:
        data = event(snapshot(ticket), ticket.version)
    await add_event(session, outbox, data)


def set_field(ticket: Ticket, name: str, value: Any, changes: dict[str, FieldChange]) -> None:
    """Set one field, noting the change when the value differs."""
    old = getattr(ticket, name)
    if old != value:
        changes[name] = FieldChange(old=old, new=value)
        setattr(ticket, name, value)


def set_assignee(ticket: Ticket, person_id: uuid.UUID, name: str, email: str, changes: dict[str, FieldChange]) -> None:
    """Assign someone, noting the change when it is another person (a renamed one is no change)."""
    if (ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email) == (person_id, name, email):
        return
    old = assignee_value(ticket)
    ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email = person_id, name, email
    if old is None or old["id"] != str(person_id):
        changes["assigned_to"] = FieldChange(old=old, new=assignee_value(ticket))


def stop_waiting(ticket: Ticket) -> None:
    ticket.waiting_for = None


def set_due(ticket: Ticket, settings: TicketsSettings, changes: dict[str, FieldChange]) -> None:
    """SLA deadline: creation time plus the priority's allowance."""
    sla = settings.sla(ticket.priority)
    due = ticket.created_at + sla if sla is not None else None
    if due != ticket.due_at:
        changes["due_at"] = FieldChange(
            old=ticket.due_at.isoformat() if ticket.due_at else None,
            new=due.isoformat() if due else None,
        )
        ticket.due_at = due
