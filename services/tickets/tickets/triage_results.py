"""Applying triage's results: the awaited attempt's category, priority, skills and assignee, whole."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import FieldChange, TicketTriaged, TicketTriageFailed
from shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository
from tickets.changes import SYSTEM, record_change, set_assignee, set_due, set_field, stop_waiting
from tickets.models import Ticket
from tickets.service import utcnow
from tickets.settings import TicketsSettings

log = get_logger(__name__)


async def _ticket_for_triage(session: AsyncSession, ticket_id: uuid.UUID, attempt: int) -> Ticket | None:
    """The ticket, locked, if a result of this attempt is still wanted; None for stale ones."""
    ticket = await repository.get_ticket(session, ticket_id, for_update=True)
    if ticket is None:
        log.warning("triage_result_for_unknown_ticket", ticket_id=str(ticket_id))
        return None
    # a ticket waiting for a free moderator takes the assignment of the attempt it waits in
    waiting = ticket.triage_state == "waiting" and attempt == ticket.triage_applied_attempt
    if not waiting and (attempt <= ticket.triage_applied_attempt or attempt < ticket.triage_attempt):
        log.info(
            "triage_result_stale",
            ticket_id=str(ticket_id),
            attempt=attempt,
            applied=ticket.triage_applied_attempt,
            expected=ticket.triage_attempt,
        )
        return None
    return ticket


def _mark_applied(ticket: Ticket, attempt: int, changes: dict[str, FieldChange]) -> None:
    # always part of the change, so every applied result bumps the version and emits an event
    changes["triage_attempt"] = FieldChange(old=ticket.triage_applied_attempt, new=attempt)
    ticket.triage_attempt = max(ticket.triage_attempt, attempt)
    ticket.triage_applied_attempt = attempt


async def apply_triaged(
    *, session: AsyncSession, settings: TicketsSettings, event: TicketTriaged, now: datetime | None = None
) -> bool:
    """Apply a triage result of the awaited attempt whole; False when it is stale."""
    now = now or utcnow()
    ticket = await _ticket_for_triage(session, event.ticket_id, event.attempt)
    if ticket is None:
        return False
    assignee = event.assignee
    # whom it names, as we know them: read before any field changes (the query would flush them
    # first, and the ticket row would be written twice)
    person = None
    if assignee is not None:
        person = await repository.person_for_assignment(
            session, person_id=assignee.id, name=assignee.name, email=assignee.email, role=assignee.role
        )
    changes: dict[str, FieldChange] = {}
    set_field(ticket, "category", event.category.strip()[:64] or None, changes)
    set_field(ticket, "priority", event.priority, changes)
    set_due(ticket, settings, changes)
    set_field(ticket, "related_skills", list(event.related_skills), changes)
    # part of an incident with an owner: worked through the incident (tickets.incidents), nobody waits
    grouped = assignee is None and event.incident is not None and event.incident.owner is not None
    if assignee is None and ticket.triage_state == "waiting":
        return False  # a repeat of the waiting result: nothing new
    set_field(ticket, "triage_state", "done" if assignee or grouped else "waiting", changes)
    if person is not None:
        set_assignee(ticket, person.id, person.name, person.email, changes)
        stop_waiting(ticket)
    else:
        ticket.waiting_for = None if grouped else list(dict.fromkeys(event.waiting_for)) or None
    ticket.helpful_notes = event.helpful_notes or None
    ticket.triage_summary = event.summary or None
    ticket.triage_provider = event.provider
    ticket.triage_model = event.model
    ticket.triage_confidence = event.confidence
    ticket.assignment_reason = event.assignment_reason
    ticket.triaged_at = event.triaged_at
    _mark_applied(ticket, event.attempt, changes)
    await record_change(session, ticket, actor=SYSTEM, changes=changes, now=now)
    return True


async def apply_triage_failed(*, session: AsyncSession, event: TicketTriageFailed, now: datetime | None = None) -> bool:
    """Mark triage failed, hand the ticket to the fallback admin, keep the reason for staff."""
    now = now or utcnow()
    ticket = await _ticket_for_triage(session, event.ticket_id, event.attempt)
    if ticket is None:
        return False
    changes: dict[str, FieldChange] = {}
    set_field(ticket, "triage_state", "failed", changes)
    stop_waiting(ticket)
    fallback = event.fallback_assignee
    if fallback is not None:
        person = await repository.person_for_assignment(
            session, person_id=fallback.id, name=fallback.name, email=fallback.email, role=fallback.role
        )
        set_assignee(ticket, person.id, person.name, person.email, changes)
    ticket.assignment_reason = event.reason
    _mark_applied(ticket, event.attempt, changes)
    await record_change(session, ticket, actor=SYSTEM, changes=changes, now=now)
    return True
