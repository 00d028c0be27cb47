"""Triage's proposal (consumer of `ticket.triaged`): link the triaged ticket to the incident triage
proposed, opening it with its first ticket."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import OPEN_STATUSES, IncidentProposal, TicketTriaged
from shared.logging import get_logger
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository
from tickets.incident_records import back_to_triage, emit, link, log_entry, recompute
from tickets.incidents import SYSTEM, lock, utcnow
from tickets.models import Incident, Person, Ticket
from tickets.settings import TicketsSettings

log = get_logger(__name__)


async def apply_proposal(
    *, session: AsyncSession, settings: TicketsSettings, event: TicketTriaged, now: datetime | None = None
) -> bool:
    """Link the triaged ticket to the incident triage proposed (opening it with its first ticket).

    Idempotent: a ticket already in the incident changes nothing; a proposal for an incident that
    was merged follows the merge; one that was resolved meanwhile links nothing (the ticket stays
    an ordinary one). True when something changed.
    """
    proposal = event.incident
    if proposal is None:
        return False
    now = now or utcnow()
    ticket = await repository.get_ticket(session, event.ticket_id, for_update=True)
    if ticket is None or ticket.status not in OPEN_STATUSES:
        return False
    # read unlocked here: locks go incident first, then its tickets (as resolve, merge and detach take them)
    anchor = await repository.get_ticket(session, proposal.anchor_ticket_id)
    owner = await _owner(session, proposal)
    opened = await _open(session, proposal, first=anchor or ticket, owner=owner, now=now)
    incident = await _followed(session, proposal.incident_id)
    if ticket.incident_id == incident.id:
        return False
    if incident.status != "open":
        # resolved meanwhile: not part of it, and (unassigned) not left unworked
        log.warning("incident_proposal_for_closed", ticket_id=str(ticket.id), incident_id=str(incident.id))
        if ticket.assigned_to_id is None and ticket.triage_state == "done":
            await back_to_triage(session, ticket, actor=SYSTEM, changes={}, now=now)
            return True
        return False
    previous = incident.size
    new_owner = False
    if incident.owner_id is None and owner is not None:
        incident.owner_id, incident.owner_name, incident.owner_email = owner.id, owner.name, owner.email
        new_owner = True
    elif opened and owner is not None:
        new_owner = True
    if opened and anchor is not None and anchor.id != ticket.id:
        await _link_anchor(session, anchor.id, incident, now=now)
    await link(session, ticket, incident, actor=SYSTEM, now=now)
    incident.size += 1
    session.add(log_entry(incident, "joined", now=now, actor=SYSTEM, ticket_id=ticket.id, detail=proposal.reason))
    await recompute(session, settings, incident)
    await emit(
        session,
        incident,
        change="opened" if opened else "joined",
        actor=SYSTEM,
        previous_size=previous,
        now=now,
        ticket_ids=[ticket.id] if not opened or anchor is None else [anchor.id, ticket.id],
        new_owner=new_owner,
    )
    log.info("incident_joined", ticket_id=str(ticket.id), incident_id=str(incident.id), size=incident.size)
    return True


async def _owner(session: AsyncSession, proposal: IncidentProposal) -> Person | None:
    """The owner triage chose by the normal rules (our copy of them), if it chose one."""
    if proposal.owner is None:
        return None
    return await repository.person_for_assignment(
        session,
        person_id=proposal.owner.id,
        name=proposal.owner.name,
        email=proposal.owner.email,
        role=proposal.owner.role,
    )


async def _open(
    session: AsyncSession, proposal: IncidentProposal, *, first: Ticket, owner: Person | None, now: datetime
) -> bool:
    """Create the proposed incident from its first ticket unless it exists; True when created."""
    created = await session.execute(
        insert(Incident)
        .values(
            id=proposal.incident_id,
            title=first.title,
            summary=first.triage_summary,
            status="open",
            category=first.category,
            priority=first.priority,
            owner_id=owner.id if owner else None,
            owner_name=owner.name if owner else None,
            owner_email=owner.email if owner else None,
            anchor_ticket_id=proposal.anchor_ticket_id,
            size=0,
            version=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Incident.id])
        .returning(Incident.id)
    )
    return created.scalar_one_or_none() is not None


async def _followed(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    """The incident, locked; for one that was merged, the incident it went into."""
    incident = await lock(session, incident_id)
    assert incident is not None
    for _ in range(5):
        if incident.status != "merged" or incident.merged_into is None:
            break
        target = await lock(session, incident.merged_into)
        if target is None:
            break
        incident = target
    return incident


async def _link_anchor(session: AsyncSession, anchor_id: uuid.UUID, incident: Incident, *, now: datetime) -> None:
    """The ticket the new incident opened from joins it first (when it is still open and in none)."""
    anchor = await session.scalar(
        select(Ticket).where(Ticket.id == anchor_id).with_for_update().execution_options(populate_existing=True)
    )
    if anchor is not None and anchor.incident_id is None and anchor.status in OPEN_STATUSES:
        await link(session, anchor, incident, actor=SYSTEM, now=now)
        incident.size += 1
        session.add(log_entry(incident, "opened", now=now, actor=SYSTEM, ticket_id=anchor.id))
