"""Incidents: a burst of similar tickets worked as one problem by one owner — what they are
and who sees what (README, "Incidents").

Triage proposes membership (`ticket.triaged` carries an `IncidentProposal`: incident_proposals.py
applies it); staff edit, detach, merge, post public updates and resolve (incident_work.py); every
change is a row in `incident_log` and an `incident.updated` event written with it
(incident_records.py). Never commits.

Who sees what: admins every incident; a moderator the incidents they own (404 otherwise); a
requester only "part of a known problem", the public title and the public updates, through their
own ticket (`for_ticket`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import (
    Actor,
    IncidentSnapshot,
    UserRef,
)
from shared.jwt import Principal
from shared.logging import get_logger
from shared.pagination import decode_cursor, fetch_limit, keyset_page
from shared.problems import ProblemError, not_found
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import service
from tickets.incident_schemas import (
    IncidentDetail,
    IncidentFilters,
    IncidentRead,
    KnownProblemRead,
    LogEntryRead,
    MemberRead,
    PublicUpdateRead,
    SizePoint,
)
from tickets.models import Incident, IncidentEntry, Ticket
from tickets.schemas import PersonRead

log = get_logger(__name__)

SYSTEM = Actor(kind="system", name="triage")
MAX_MEMBERS = 1000
KNOWN_PROBLEM = "Known problem"


def utcnow() -> datetime:
    return datetime.now(UTC)


def actor_of(principal: Principal) -> Actor:
    return Actor(kind="user", id=principal.id, role=principal.role, name=principal.name or None)


def present(incident: Incident) -> IncidentRead:
    """The incident as staff see it."""
    return IncidentRead(**_fields(incident))


def _fields(incident: Incident) -> dict[str, object]:
    owner = (
        PersonRead(id=incident.owner_id, name=incident.owner_name or "", email=incident.owner_email or "")
        if incident.owner_id
        else None
    )
    return {
        "id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "public_title": incident.public_title,
        "status": incident.status,
        "category": incident.category,
        "priority": incident.priority,
        "owner": owner,
        "size": incident.size,
        "merged_into": incident.merged_into,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "resolved_at": incident.resolved_at,
    }


def incident_snapshot(incident: Incident) -> IncidentSnapshot:
    """The incident as events carry it (no requester's name, email or text but the title)."""
    owner = (
        UserRef(id=incident.owner_id, name=incident.owner_name or "", email=incident.owner_email or "")
        if incident.owner_id
        else None
    )
    return IncidentSnapshot(
        id=incident.id,
        title=incident.title,
        status=incident.status,
        category=incident.category,
        priority=incident.priority,
        owner=owner,
        size=incident.size,
        merged_into=incident.merged_into,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


async def lock(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    return await session.scalar(
        select(Incident).where(Incident.id == incident_id).with_for_update().execution_options(populate_existing=True)
    )


async def member_tickets(session: AsyncSession, incident_id: uuid.UUID, *, for_update: bool = False) -> list[Ticket]:
    stmt = (
        select(Ticket)
        .where(Ticket.incident_id == incident_id)
        .order_by(Ticket.created_at, Ticket.id)
        .limit(MAX_MEMBERS)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


def may_work(incident: Incident, principal: Principal) -> bool:
    return principal.is_admin or (principal.role == "moderator" and incident.owner_id == principal.id)


async def visible_incident(
    session: AsyncSession, incident_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Incident:
    if for_update:
        incident = await lock(session, incident_id)
    else:
        incident = await session.get(Incident, incident_id)
    if incident is None or not may_work(incident, principal):
        raise not_found("incident")
    return incident


def must_be_open(incident: Incident) -> None:
    if incident.status != "open":
        raise ProblemError(409, f"The incident is {incident.status}; only an open incident changes.")


async def list_incidents(
    *, session: AsyncSession, principal: Principal, filters: IncidentFilters
) -> tuple[list[Incident], str | None]:
    """One page of the incidents the caller works, newest first."""
    stmt = select(Incident)
    if filters.status is not None:
        stmt = stmt.where(Incident.status == filters.status)
    if not principal.is_admin:
        stmt = stmt.where(Incident.owner_id == principal.id)
    if filters.cursor:
        at, last_id = decode_cursor(filters.cursor)
        stmt = stmt.where(tuple_(Incident.created_at, Incident.id) < tuple_(at, last_id))
    stmt = stmt.order_by(Incident.created_at.desc(), Incident.id.desc()).limit(fetch_limit(filters.limit))
    return keyset_page((await session.scalars(stmt)).all(), filters.limit)


async def get_incident(*, session: AsyncSession, incident_id: uuid.UUID, principal: Principal) -> IncidentDetail:
    """The incident with its size over time; 404 for an incident the caller does not work."""
    incident = await visible_incident(session, incident_id, principal)
    entries = await session.execute(
        select(IncidentEntry.created_at, IncidentEntry.size)
        .where(IncidentEntry.incident_id == incident.id)
        .order_by(IncidentEntry.created_at, IncidentEntry.id)
    )
    history: list[SizePoint] = []
    for at, size in entries:
        if history and history[-1].size == size:
            continue
        history.append(SizePoint(at=at, size=size))
    return IncidentDetail(**_fields(incident), size_history=history)


async def list_members(*, session: AsyncSession, incident_id: uuid.UUID, principal: Principal) -> list[MemberRead]:
    """The member tickets, oldest first, each with triage's reason for the match."""
    incident = await visible_incident(session, incident_id, principal)
    members = await member_tickets(session, incident.id)
    rows = await session.execute(
        select(IncidentEntry.ticket_id, IncidentEntry.detail)
        .where(IncidentEntry.incident_id == incident.id, IncidentEntry.kind.in_(("joined", "opened")))
        .order_by(IncidentEntry.id)
    )
    reasons = {ticket_id: detail for ticket_id, detail in rows.all()}
    return [
        MemberRead(
            id=t.id,
            title=t.title,
            description=t.description,
            status=t.status,
            created_by=PersonRead(id=t.created_by_id, name=t.created_by_name, email=t.created_by_email),
            created_at=t.created_at,
            reason=reasons.get(t.id),
        )
        for t in members
    ]


async def list_log(*, session: AsyncSession, incident_id: uuid.UUID, principal: Principal) -> list[LogEntryRead]:
    """The incident's record, oldest first: joins, detaches, merges, edits, updates, resolution."""
    incident = await visible_incident(session, incident_id, principal)
    rows = await session.scalars(
        select(IncidentEntry)
        .where(IncidentEntry.incident_id == incident.id)
        .order_by(IncidentEntry.created_at, IncidentEntry.id)
        .limit(MAX_MEMBERS * 2)
    )
    return [
        LogEntryRead(
            kind=e.kind,
            ticket_id=e.ticket_id,
            other_incident_id=e.other_incident_id,
            size=e.size,
            actor_name=e.actor_name,
            detail=e.detail,
            body=e.body,
            public=e.public,
            created_at=e.created_at,
        )
        for e in rows
    ]


async def for_ticket(
    *, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal
) -> IncidentDetail | KnownProblemRead:
    """The incident of a ticket the caller may see: whole for staff who work it, else only the
    known-problem notice and the public updates. 404 when the ticket is in no incident."""
    ticket = await service.get_ticket(session=session, ticket_id=ticket_id, principal=principal)
    if ticket.incident_id is None:
        raise not_found("incident")
    incident = await session.get(Incident, ticket.incident_id)
    if incident is None:
        raise not_found("incident")
    if may_work(incident, principal):
        return await get_incident(session=session, incident_id=incident.id, principal=principal)
    updates = await session.execute(
        select(IncidentEntry.body, IncidentEntry.created_at)
        .where(
            IncidentEntry.incident_id == incident.id,
            IncidentEntry.public.is_(True),
            IncidentEntry.body.is_not(None),
        )
        .order_by(IncidentEntry.created_at, IncidentEntry.id)
    )
    return KnownProblemRead(
        title=incident.public_title or KNOWN_PROBLEM,
        status=incident.status,
        updates=[PublicUpdateRead(body=body, created_at=at) for body, at in updates if body],
    )
