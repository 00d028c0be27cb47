"""How an incident's changes are recorded: the log row, the member ticket's history, the
`incident.updated` event (through the outbox, in the same transaction), and the category and
priority the members give the incident."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from shared.events import (
    OPEN_STATUSES,
    PRIORITIES,
    Actor,
    FieldChange,
    IncidentChange,
    IncidentUpdated,
    TicketRetriageRequested,
    TicketUpdated,
)
from shared.logging import get_logger
from shared.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.changes import record_change, snapshot
from tickets.incidents import incident_snapshot, member_tickets
from tickets.models import Incident, IncidentEntry, Ticket, outbox
from tickets.settings import TicketsSettings

log = get_logger(__name__)


async def emit(
    session: AsyncSession,
    incident: Incident,
    *,
    change: IncidentChange,
    actor: Actor,
    previous_size: int,
    now: datetime,
    ticket_ids: list[uuid.UUID] | None = None,
    other: uuid.UUID | None = None,
    new_owner: bool = False,
) -> None:
    incident.version += 1
    incident.updated_at = now
    await session.flush()
    await add_event(
        session,
        outbox,
        IncidentUpdated(
            incident=incident_snapshot(incident),
            change=change,
            version=incident.version,
            previous_size=previous_size,
            ticket_ids=ticket_ids or [],
            other_incident_id=other,
            actor=actor,
            new_owner=new_owner,
        ),
    )


def log_entry(
    incident: Incident,
    kind: str,
    *,
    now: datetime,
    actor: Actor,
    ticket_id: uuid.UUID | None = None,
    other: uuid.UUID | None = None,
    detail: str | None = None,
    body: str | None = None,
    public: bool = False,
) -> IncidentEntry:
    return IncidentEntry(
        incident_id=incident.id,
        kind=kind,
        ticket_id=ticket_id,
        other_incident_id=other,
        size=incident.size,
        actor_id=actor.id,
        actor_name=actor.name,
        detail=detail,
        body=body,
        public=public,
        created_at=now,
    )


async def ticket_changed(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: Actor,
    changes: dict[str, FieldChange],
    now: datetime,
    public_comment: str | None = None,
) -> None:
    """The ticket's history row, version and ticket.updated (with the public comment, if any)."""
    await record_change(
        session,
        ticket,
        actor=actor,
        changes=changes,
        now=now,
        event=lambda snap, version: TicketUpdated(
            ticket=snap, version=version, actor=actor, changes=changes, public_comment=public_comment
        ),
    )


async def back_to_triage(
    session: AsyncSession, ticket: Ticket, *, actor: Actor, changes: dict[str, FieldChange], now: datetime
) -> None:
    """Record `changes`; an open ticket nobody works is triaged again, to be assigned by the normal rules."""
    retriage = ticket.assigned_to_id is None and ticket.status in OPEN_STATUSES
    if retriage:
        old_state = ticket.triage_state
        ticket.triage_attempt = max(ticket.triage_attempt, ticket.triage_applied_attempt) + 1
        ticket.triage_state = "pending"
        ticket.waiting_for = None
        changes["triage_state"] = FieldChange(old=old_state, new="pending")
        changes["triage_attempt"] = FieldChange(old=ticket.triage_attempt - 1, new=ticket.triage_attempt)
    await ticket_changed(session, ticket, actor=actor, changes=changes, now=now)
    if retriage:
        await add_event(
            session,
            outbox,
            TicketRetriageRequested(
                ticket=snapshot(ticket),
                version=ticket.version,
                attempt=ticket.triage_attempt,
                requested_by=actor.id,
            ),
        )


async def link(session: AsyncSession, ticket: Ticket, incident: Incident, *, actor: Actor, now: datetime) -> None:
    old = str(ticket.incident_id) if ticket.incident_id else None
    ticket.incident_id = incident.id
    changes = {"incident_id": FieldChange(old=old, new=str(incident.id))}
    await ticket_changed(session, ticket, actor=actor, changes=changes, now=now)


async def recompute(session: AsyncSession, settings: TicketsSettings, incident: Incident) -> None:
    """Category and priority of the members; priority one step up once the incident is large."""
    if incident.pinned:
        return
    members = await member_tickets(session, incident.id)
    categories = Counter(t.category for t in members if t.category)
    if categories:
        top = max(categories.values())
        incident.category = min(c for c, n in categories.items() if n == top)
    ranks = [PRIORITIES.index(t.priority) for t in members if t.priority in PRIORITIES]
    if ranks:
        rank = max(ranks)
        step = settings.incident_priority_step_size
        if step and incident.size >= step:
            rank = min(rank + 1, len(PRIORITIES) - 1)
        incident.priority = PRIORITIES[rank]
