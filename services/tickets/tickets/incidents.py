"""The rules of incidents: a burst of similar tickets worked as one problem by one owner.

Triage proposes membership (`ticket.triaged` carries an `IncidentProposal`); this module applies
it, and what staff do: edit, detach a ticket that does not belong, merge two incidents, post a
public update, resolve (every member resolved with one public comment, mailed once to each
requester through the outbox and the notifier's idempotent deliveries). Every change is a row in
`incident_log` and an `incident.updated` event, written with it. Never commits.

Who sees what: admins every incident; a moderator the incidents they own (404 otherwise); a
requester only "part of a known problem", the public title and the public updates, through their
own ticket (`for_ticket`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from shared.events import (
    DONE_STATUSES,
    OPEN_STATUSES,
    PRIORITIES,
    STAFF_ROLES,
    Actor,
    FieldChange,
    IncidentChange,
    IncidentSnapshot,
    IncidentUpdated,
    TicketRetriageRequested,
    TicketTriaged,
    TicketUpdated,
    UserRef,
)
from shared.jwt import Principal
from shared.logging import get_logger
from shared.outbox import add_event
from shared.pagination import decode_cursor, fetch_limit, keyset_page
from shared.problems import ProblemError, not_found
from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository, service
from tickets.changes import assignee_value, record_change, snapshot
from tickets.incident_schemas import (
    IncidentDetail,
    IncidentFilters,
    IncidentRead,
    IncidentUpdate,
    KnownProblemRead,
    LogEntryRead,
    MemberRead,
    PublicUpdateRead,
    SizePoint,
)
from tickets.models import Comment, Incident, IncidentEntry, Ticket, outbox
from tickets.schemas import PersonRead
from tickets.settings import TicketsSettings

log = get_logger(__name__)

SYSTEM = Actor(kind="system", name="triage")
MAX_MEMBERS = 1000
KNOWN_PROBLEM = "Known problem"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _actor(principal: Principal) -> Actor:
    return Actor(kind="user", id=principal.id, role=principal.role, name=principal.name or None)


# --- presentation --------------------------------------------------------------------------


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


# --- recording -----------------------------------------------------------------------------


async def _emit(
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


def _entry(
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


async def _ticket_changed(
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


async def _back_to_triage(
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
    await _ticket_changed(session, ticket, actor=actor, changes=changes, now=now)
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


async def _link(session: AsyncSession, ticket: Ticket, incident: Incident, *, actor: Actor, now: datetime) -> None:
    old = str(ticket.incident_id) if ticket.incident_id else None
    ticket.incident_id = incident.id
    changes = {"incident_id": FieldChange(old=old, new=str(incident.id))}
    await _ticket_changed(session, ticket, actor=actor, changes=changes, now=now)


async def _members(session: AsyncSession, incident_id: uuid.UUID, *, for_update: bool = False) -> list[Ticket]:
    stmt = (
        select(Ticket)
        .where(Ticket.incident_id == incident_id)
        .order_by(Ticket.created_at, Ticket.id)
        .limit(MAX_MEMBERS)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def _recompute(session: AsyncSession, settings: TicketsSettings, incident: Incident) -> None:
    """Category and priority of the members; priority one step up once the incident is large."""
    if incident.pinned:
        return
    members = await _members(session, incident.id)
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


# --- triage's proposal (consumer) ----------------------------------------------------------


async def _lock(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    return await session.scalar(
        select(Incident).where(Incident.id == incident_id).with_for_update().execution_options(populate_existing=True)
    )


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
    owner = None
    if proposal.owner is not None:
        owner = await repository.person_for_assignment(
            session,
            person_id=proposal.owner.id,
            name=proposal.owner.name,
            email=proposal.owner.email,
            role=proposal.owner.role,
        )
    first = anchor or ticket
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
    opened = created.scalar_one_or_none() is not None
    incident = await _lock(session, proposal.incident_id)
    assert incident is not None
    for _ in range(5):  # a proposal for a merged incident joins where it went
        if incident.status != "merged" or incident.merged_into is None:
            break
        target = await _lock(session, incident.merged_into)
        if target is None:
            break
        incident = target
    if ticket.incident_id == incident.id:
        return False
    if incident.status != "open":
        # resolved meanwhile: not part of it, and (unassigned) not left unworked
        log.warning("incident_proposal_for_closed", ticket_id=str(ticket.id), incident_id=str(incident.id))
        if ticket.assigned_to_id is None and ticket.triage_state == "done":
            await _back_to_triage(session, ticket, actor=SYSTEM, changes={}, now=now)
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
        anchor = await session.scalar(
            select(Ticket).where(Ticket.id == anchor.id).with_for_update().execution_options(populate_existing=True)
        )
    if (
        opened
        and anchor is not None
        and anchor.id != ticket.id
        and anchor.incident_id is None
        and anchor.status in OPEN_STATUSES
    ):
        await _link(session, anchor, incident, actor=SYSTEM, now=now)
        incident.size += 1
        session.add(_entry(incident, "opened", now=now, actor=SYSTEM, ticket_id=anchor.id))
    await _link(session, ticket, incident, actor=SYSTEM, now=now)
    incident.size += 1
    session.add(_entry(incident, "joined", now=now, actor=SYSTEM, ticket_id=ticket.id, detail=proposal.reason))
    await _recompute(session, settings, incident)
    await _emit(
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


# --- staff (HTTP) --------------------------------------------------------------------------


def _may_work(incident: Incident, principal: Principal) -> bool:
    return principal.is_admin or (principal.role == "moderator" and incident.owner_id == principal.id)


async def _visible(
    session: AsyncSession, incident_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Incident:
    if for_update:
        incident = await _lock(session, incident_id)
    else:
        incident = await session.get(Incident, incident_id)
    if incident is None or not _may_work(incident, principal):
        raise not_found("incident")
    return incident


def _must_be_open(incident: Incident) -> None:
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
    incident = await _visible(session, incident_id, principal)
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
    incident = await _visible(session, incident_id, principal)
    members = await _members(session, incident.id)
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
    incident = await _visible(session, incident_id, principal)
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


async def update_incident(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    update: IncidentUpdate,
    principal: Principal,
    now: datetime | None = None,
) -> Incident:
    """Edit title, summary, public title, category, priority; admins also the owner."""
    now = now or utcnow()
    incident = await _visible(session, incident_id, principal, for_update=True)
    sent = update.sent()
    if "owner_id" in sent and not principal.is_admin:
        raise ProblemError(403, "Only admins may change an incident's owner.")
    if not sent:
        return incident
    _must_be_open(incident)
    changed: list[str] = []
    for name in ("title", "summary", "public_title", "category", "priority"):
        if name in sent and getattr(incident, name) != sent[name]:
            setattr(incident, name, sent[name])
            changed.append(name)
    if {"category", "priority"} & set(sent):
        incident.pinned = True
    new_owner = False
    owner_id = sent.get("owner_id")
    if owner_id is not None and owner_id != incident.owner_id:
        assert isinstance(owner_id, uuid.UUID)
        person = await repository.get_person(session, owner_id)
        if person is None or person.role not in STAFF_ROLES:
            raise ProblemError(
                422,
                "owner_id: not a known moderator or admin",
                errors=[{"loc": ["body", "owner_id"], "msg": "not a known moderator or admin", "type": "value_error"}],
            )
        incident.owner_id, incident.owner_name, incident.owner_email = person.id, person.name, person.email
        changed.append("owner")
        new_owner = True
    if not changed:
        return incident
    actor = _actor(principal)
    session.add(_entry(incident, "updated", now=now, actor=actor, detail=", ".join(changed)))
    await _emit(
        session, incident, change="updated", actor=actor, previous_size=incident.size, now=now, new_owner=new_owner
    )
    return incident


async def post_update(
    *, session: AsyncSession, incident_id: uuid.UUID, body: str, principal: Principal, now: datetime | None = None
) -> Incident:
    """A public update: every member's requester sees it on their ticket."""
    now = now or utcnow()
    incident = await _visible(session, incident_id, principal, for_update=True)
    _must_be_open(incident)
    session.add(_entry(incident, "public_update", now=now, actor=_actor(principal), body=body, public=True))
    await session.flush()
    return incident


async def detach(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    ticket_id: uuid.UUID,
    principal: Principal,
    note: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Take a ticket that is not the same problem out of the incident (triage keeps it as a
    labelled "not the same" example); an unassigned one goes back to triage to be assigned."""
    now = now or utcnow()
    incident = await _visible(session, incident_id, principal, for_update=True)
    _must_be_open(incident)
    ticket = await repository.get_ticket(session, ticket_id, for_update=True)
    if ticket is None or ticket.incident_id != incident.id:
        raise not_found("member ticket")
    actor = _actor(principal)
    previous = incident.size
    ticket.incident_id = None
    changes = {"incident_id": FieldChange(old=str(incident.id), new=None)}
    await _back_to_triage(session, ticket, actor=actor, changes=changes, now=now)
    incident.size = max(0, incident.size - 1)
    session.add(_entry(incident, "detached", now=now, actor=actor, ticket_id=ticket.id, detail=note or "not the same"))
    await _emit(
        session, incident, change="detached", actor=actor, previous_size=previous, now=now, ticket_ids=[ticket.id]
    )
    return incident


async def merge(
    *,
    session: AsyncSession,
    settings: TicketsSettings,
    target_id: uuid.UUID,
    source_id: uuid.UUID,
    principal: Principal,
    now: datetime | None = None,
) -> Incident:
    """Move every member of the source into the target; the source ends `merged` (both recorded).

    The source's first ticket, assigned to the source's owner, is handed to the target's owner's
    incident: it no longer takes a slot of its own when the target has an owner.
    """
    now = now or utcnow()
    if target_id == source_id:
        raise ProblemError(409, "An incident cannot be merged into itself.")
    # both rows locked in one order, so two opposite merges cannot deadlock
    locked = {
        i.id: i
        for i in (
            await session.scalars(
                select(Incident)
                .where(Incident.id.in_((target_id, source_id)))
                .order_by(Incident.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    target, source = locked.get(target_id), locked.get(source_id)
    if target is None or not _may_work(target, principal):
        raise not_found("incident")
    if source is None or not _may_work(source, principal):
        raise not_found("source incident")
    _must_be_open(target)
    _must_be_open(source)
    actor = _actor(principal)
    moved = await _members(session, source.id, for_update=True)
    for ticket in moved:
        changes = {"incident_id": FieldChange(old=str(source.id), new=str(target.id))}
        ticket.incident_id = target.id
        if (
            target.owner_id is not None
            and ticket.assigned_to_id is not None
            and ticket.assigned_to_id != target.owner_id
        ):
            changes["assigned_to"] = FieldChange(old=assignee_value(ticket), new=None)
            ticket.assigned_to_id = ticket.assigned_to_name = ticket.assigned_to_email = None
        await _ticket_changed(session, ticket, actor=actor, changes=changes, now=now)
    ids = [t.id for t in moved]
    previous_target, previous_source = target.size, source.size
    target.size += len(moved)
    source.size = 0
    source.status = "merged"
    source.merged_into = target.id
    source.resolved_at = now
    session.add(_entry(source, "merged", now=now, actor=actor, other=target.id, detail=f"{len(moved)} tickets moved"))
    session.add(_entry(target, "merged", now=now, actor=actor, other=source.id, detail=f"{len(moved)} tickets moved"))
    await _recompute(session, settings, target)
    await _emit(
        session,
        source,
        change="merged",
        actor=actor,
        previous_size=previous_source,
        now=now,
        ticket_ids=ids,
        other=target.id,
    )
    await _emit(
        session,
        target,
        change="merged",
        actor=actor,
        previous_size=previous_target,
        now=now,
        ticket_ids=ids,
        other=source.id,
    )
    return target


async def resolve(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    comment: str,
    principal: Principal,
    now: datetime | None = None,
) -> Incident:
    """Resolve the incident and every open member with one public comment on each.

    The comment travels in each member's ticket.updated (`public_comment`): the notifier's one
    "resolved" mail to its requester carries it, so each requester gets exactly one mail.
    """
    now = now or utcnow()
    incident = await _visible(session, incident_id, principal, for_update=True)
    _must_be_open(incident)
    actor = _actor(principal)
    resolved: list[uuid.UUID] = []
    for ticket in await _members(session, incident.id, for_update=True):
        if ticket.status in DONE_STATUSES:
            continue
        session.add(
            Comment(
                id=uuid.uuid4(),
                ticket_id=ticket.id,
                author_id=principal.id,
                author_name=principal.name,
                author_email=principal.email,
                author_role=principal.role,
                body=comment,
                internal=False,
                created_at=now,
            )
        )
        changes = {"status": FieldChange(old=ticket.status, new="resolved")}
        ticket.status = "resolved"
        ticket.resolved_at = now
        if ticket.triage_state == "waiting":
            changes["triage_state"] = FieldChange(old="waiting", new="done")
            ticket.triage_state = "done"
            ticket.waiting_for = None
        await _ticket_changed(session, ticket, actor=actor, changes=changes, now=now, public_comment=comment)
        resolved.append(ticket.id)
    incident.status = "resolved"
    incident.resolved_at = now
    session.add(_entry(incident, "resolved", now=now, actor=actor, body=comment, public=True))
    await _emit(
        session, incident, change="resolved", actor=actor, previous_size=incident.size, now=now, ticket_ids=resolved
    )
    return incident


# --- requesters (HTTP) ---------------------------------------------------------------------


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
    if _may_work(incident, principal):
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
