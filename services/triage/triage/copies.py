"""Triage's copy of each ticket: kept in step with the tickets service, and its place in a workload."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from shared.events import TicketSnapshot
from sqlalchemy.ext.asyncio import AsyncSession

from triage import repository
from triage.models import TicketCopy


async def locked_ticket(session: AsyncSession, snapshot: TicketSnapshot, *, version: int) -> TicketCopy:
    return await repository.lock_ticket(session, new_copy(snapshot))


async def lock_copies(session: AsyncSession, snapshots: Sequence[TicketSnapshot]) -> None:
    """The copies of a batch's tickets, created where absent and locked, in one statement."""
    await repository.lock_tickets(session, [new_copy(s) for s in snapshots])


def new_copy(snapshot: TicketSnapshot) -> dict[str, Any]:
    """The values of a copy not seen before (an existing one is locked as it is)."""
    return {
        "ticket_id": snapshot.id,
        "title": snapshot.title,
        "description": snapshot.description,
        "status": snapshot.status,
        "category": snapshot.category,
        "priority": snapshot.priority,
        "related_skills": list(snapshot.related_skills),
        "assignee_id": None,
        "counted_for": None,
        "version": 0,
        "attempt": snapshot.triage_attempt,
        "triaged_attempt": 0,
        "state": "pending",
    }


async def count_against(session: AsyncSession, ticket: TicketCopy, who: uuid.UUID | None) -> None:
    """Move the ticket's place in someone's open workload to `who` (None: nobody)."""
    if ticket.counted_for == who:
        return
    if ticket.counted_for is not None:
        await repository.release_slot(session, user_id=ticket.counted_for)
        ticket.counted_for = None
    if who is not None and await repository.add_open(session, user_id=who):
        ticket.counted_for = who


def apply_snapshot(ticket: TicketCopy, snapshot: TicketSnapshot, version: int) -> None:
    ticket.title = snapshot.title
    ticket.description = snapshot.description
    ticket.status = snapshot.status
    ticket.category = snapshot.category
    ticket.priority = snapshot.priority
    ticket.related_skills = list(snapshot.related_skills)
    ticket.assignee_id = snapshot.assigned_to.id if snapshot.assigned_to else None
    ticket.version = max(ticket.version, version)


async def record_ticket(*, session: AsyncSession, snapshot: TicketSnapshot, version: int, attempt: int) -> TicketCopy:
    """Create or refresh the copy for a (re)triage request and return it locked."""
    ticket = await locked_ticket(session, snapshot, version=version)
    if version > ticket.version:
        apply_snapshot(ticket, snapshot, version)
    ticket.attempt = max(ticket.attempt, attempt)
    return ticket
