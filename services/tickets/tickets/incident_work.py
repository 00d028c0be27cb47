"""What staff do to an incident (HTTP): edit, post a public update, detach a ticket that does not
belong, merge two incidents, resolve it with its members. 404 for an incident the caller does not
work (incidents.visible_incident)."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import (
    DONE_STATUSES,
    STAFF_ROLES,
    Actor,
    FieldChange,
)
from shared.jwt import Principal
from shared.logging import get_logger
from shared.problems import ProblemError, not_found
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository
from tickets.changes import assignee_value
from tickets.comments import new_comment
from tickets.incident_records import back_to_triage, emit, log_entry, recompute, ticket_changed
from tickets.incident_schemas import (
    IncidentUpdate,
)
from tickets.incidents import actor_of, may_work, member_tickets, must_be_open, utcnow, visible_incident
from tickets.models import Incident, Ticket
from tickets.settings import TicketsSettings

log = get_logger(__name__)


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
    incident = await visible_incident(session, incident_id, principal, for_update=True)
    sent = update.sent()
    if "owner_id" in sent and not principal.is_admin:
        raise ProblemError(403, "Only admins may change an incident's owner.")
    if not sent:
        return incident
    must_be_open(incident)
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
    actor = actor_of(principal)
    session.add(log_entry(incident, "updated", now=now, actor=actor, detail=", ".join(changed)))
    await emit(
        session, incident, change="updated", actor=actor, previous_size=incident.size, now=now, new_owner=new_owner
    )
    return incident


async def post_update(
    *, session: AsyncSession, incident_id: uuid.UUID, body: str, principal: Principal, now: datetime | None = None
) -> Incident:
    """A public update: every member's requester sees it on their ticket."""
    now = now or utcnow()
    incident = await visible_incident(session, incident_id, principal, for_update=True)
    must_be_open(incident)
    session.add(log_entry(incident, "public_update", now=now, actor=actor_of(principal), body=body, public=True))
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
    incident = await visible_incident(session, incident_id, principal, for_update=True)
    must_be_open(incident)
    ticket = await repository.get_ticket(session, ticket_id, for_update=True)
    if ticket is None or ticket.incident_id != incident.id:
        raise not_found("member ticket")
    actor = actor_of(principal)
    previous = incident.size
    ticket.incident_id = None
    changes = {"incident_id": FieldChange(old=str(incident.id), new=None)}
    await back_to_triage(session, ticket, actor=actor, changes=changes, now=now)
    incident.size = max(0, incident.size - 1)
    session.add(
        log_entry(incident, "detached", now=now, actor=actor, ticket_id=ticket.id, detail=note or "not the same")
    )
    await emit(
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
    target, source = await _lock_pair(session, target_id, source_id, principal)
    actor = actor_of(principal)
    moved = await _move_members(session, source, target, actor=actor, now=now)
    ids = [t.id for t in moved]
    previous_target, previous_source = target.size, source.size
    target.size += len(moved)
    source.size = 0
    source.status = "merged"
    source.merged_into = target.id
    source.resolved_at = now
    # both sides recorded the same way, each naming the other
    sides = ((source, previous_source, target), (target, previous_target, source))
    for incident, _, other in sides:
        session.add(
            log_entry(incident, "merged", now=now, actor=actor, other=other.id, detail=f"{len(moved)} tickets moved")
        )
    await recompute(session, settings, target)
    for incident, previous, other in sides:
        await emit(
            session,
            incident,
            change="merged",
            actor=actor,
            previous_size=previous,
            now=now,
            ticket_ids=ids,
            other=other.id,
        )
    return target


async def _lock_pair(
    session: AsyncSession, target_id: uuid.UUID, source_id: uuid.UUID, principal: Principal
) -> tuple[Incident, Incident]:
    """Target and source, both open and worked by the caller, locked in one order (so two opposite
    merges cannot deadlock)."""
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
    if target is None or not may_work(target, principal):
        raise not_found("incident")
    if source is None or not may_work(source, principal):
        raise not_found("source incident")
    must_be_open(target)
    must_be_open(source)
    return target, source


async def _move_members(
    session: AsyncSession, source: Incident, target: Incident, *, actor: Actor, now: datetime
) -> list[Ticket]:
    """Every member of the source into the target; one assigned to someone other than the target's
    owner is unassigned (the target's owner works it through the incident)."""
    moved = await member_tickets(session, source.id, for_update=True)
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
        await ticket_changed(session, ticket, actor=actor, changes=changes, now=now)
    return moved


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
    incident = await visible_incident(session, incident_id, principal, for_update=True)
    must_be_open(incident)
    actor = actor_of(principal)
    resolved: list[uuid.UUID] = []
    for ticket in await member_tickets(session, incident.id, for_update=True):
        if ticket.status in DONE_STATUSES:
            continue
        session.add(new_comment(ticket.id, principal, comment, internal=False, now=now))
        changes = {"status": FieldChange(old=ticket.status, new="resolved")}
        ticket.status = "resolved"
        ticket.resolved_at = now
        if ticket.triage_state == "waiting":
            changes["triage_state"] = FieldChange(old="waiting", new="done")
            ticket.triage_state = "done"
            ticket.waiting_for = None
        await ticket_changed(session, ticket, actor=actor, changes=changes, now=now, public_comment=comment)
        resolved.append(ticket.id)
    incident.status = "resolved"
    incident.resolved_at = now
    session.add(log_entry(incident, "resolved", now=now, actor=actor, body=comment, public=True))
    await emit(
        session, incident, change="resolved", actor=actor, previous_size=incident.size, now=now, ticket_ids=resolved
    )
    return incident
