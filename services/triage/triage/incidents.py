"""Incident detection: a new ticket much like recent open ones joins their incident or opens one.

Triage only proposes (`IncidentProposal` in ticket.triaged); the tickets service owns incidents.
Detection runs inside the triage transaction, after one advisory lock that serialises it across
workers: two tickets of a burst triaged at once cannot both miss each other, and the proposals
follow the order tickets were triaged in. A member of an incident with an owner takes no slot:
the owner works the incident through its first ticket, which was assigned by the normal rules.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from shared.events import OPEN_STATUSES, Assignee, IncidentProposal, IncidentUpdated, TicketSnapshot
from shared.logging import get_logger
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.models import Incident, IncidentFeedback, IncidentMember, Staff, TicketCopy
from triage.similarity import Candidate, Features, best_match, features, incident_id_for

log = get_logger(__name__)

# pg_advisory_xact_lock key of detection ("incident" in ASCII, as a bigint)
LOCK_KEY = 0x696E636964656E74
MAX_CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class Rules:
    """The detection settings (TRIAGE_INCIDENT_*)."""

    threshold: float
    window_s: float


def _assignee(row: Staff) -> Assignee:
    return Assignee(
        id=row.user_id, name=row.name, email=row.email, role="admin" if row.role == "admin" else "moderator"
    )


async def _owner(session: AsyncSession, owner_id: uuid.UUID | None) -> Assignee | None:
    if owner_id is None:
        return None
    row = await session.get(Staff, owner_id)
    return _assignee(row) if row is not None and row.active else None


# A ticket's title and description never change: its features are computed once per process.
_FEATURES: OrderedDict[uuid.UUID, Features] = OrderedDict()
_FEATURES_MAX = 20_000


async def _features(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> dict[uuid.UUID, Features]:
    found = {tid: _FEATURES[tid] for tid in ticket_ids if tid in _FEATURES}
    missing = [tid for tid in ticket_ids if tid not in found]
    if missing:
        texts = await session.execute(
            select(TicketCopy.ticket_id, TicketCopy.title, TicketCopy.description).where(
                TicketCopy.ticket_id.in_(missing)
            )
        )
        for tid, title, description in texts.all():
            found[tid] = _FEATURES[tid] = features(title, description)
        while len(_FEATURES) > _FEATURES_MAX:
            _FEATURES.popitem(last=False)
    return found


async def detect(session: AsyncSession, *, snapshot: TicketSnapshot, rules: Rules) -> IncidentProposal | None:
    """Join or open an incident for this ticket if it matches a recent open one; None otherwise."""
    await session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    # in a batch, the earlier tickets of this transaction must be visible as candidates
    await session.flush()
    member = await session.get(IncidentMember, snapshot.id, with_for_update=True)
    if member is None:
        member = IncidentMember(ticket_id=snapshot.id, filed_at=snapshot.created_at)
        session.add(member)
        await session.flush()
    elif member.incident_id is not None:
        # a retriage or a replay: the ticket stays where it is while its incident is open
        incident = await session.get(Incident, member.incident_id)
        if incident is not None and incident.status == "open":
            return IncidentProposal(
                incident_id=incident.id,
                anchor_ticket_id=incident.anchor_ticket_id,
                matched_ticket_id=incident.anchor_ticket_id,
                similarity=min(1.0, max(0.0, member.similarity or 0.0)),
                reason=member.reason or "already part of this incident",
                owner=await _owner(session, incident.owner_id),
            )
        member.incident_id = None

    window = timedelta(seconds=rules.window_s)
    rows = (
        await session.execute(
            select(IncidentMember.ticket_id, IncidentMember.filed_at, IncidentMember.incident_id)
            .join(TicketCopy, TicketCopy.ticket_id == IncidentMember.ticket_id)
            .outerjoin(Incident, Incident.id == IncidentMember.incident_id)
            .where(
                IncidentMember.ticket_id != snapshot.id,
                IncidentMember.filed_at.between(snapshot.created_at - window, snapshot.created_at + window),
                TicketCopy.status.in_(OPEN_STATUSES),
                (IncidentMember.incident_id.is_(None)) | (Incident.status == "open"),
            )
            # the nearest in time first, should a flood exceed the limit
            .order_by(
                func.abs(func.extract("epoch", IncidentMember.filed_at - snapshot.created_at)), IncidentMember.ticket_id
            )
            .limit(MAX_CANDIDATES)
        )
    ).all()
    if not rows:
        return None
    excluded = frozenset(
        await session.scalars(select(IncidentFeedback.incident_id).where(IncidentFeedback.ticket_id == snapshot.id))
    )
    feats = await _features(session, [row.ticket_id for row in rows])
    candidates = [
        Candidate(
            ticket_id=row.ticket_id, filed_at=row.filed_at, features=feats[row.ticket_id], incident_id=row.incident_id
        )
        for row in rows
        if row.ticket_id in feats
    ]
    match = best_match(
        features(snapshot.title, snapshot.description),
        candidates,
        threshold=rules.threshold,
        excluded_incidents=excluded,
    )
    if match is None:
        return None
    anchor = match.candidate
    seconds = abs((snapshot.created_at - anchor.filed_at).total_seconds())
    reason = (
        f"like ticket {anchor.ticket_id} filed {seconds:.0f} s apart: similarity {match.similarity:.2f} "
        f"≥ {rules.threshold:.2f}, shared words: {', '.join(match.shared) or '(phrases only)'}"
    )
    opened = anchor.incident_id is None
    if opened:
        incident_id = incident_id_for(anchor.ticket_id)
        copy = await session.get(TicketCopy, anchor.ticket_id)
        owner_id = (copy.counted_for or copy.assignee_id) if copy is not None else None
        await session.execute(
            insert(Incident)
            .values(id=incident_id, anchor_ticket_id=anchor.ticket_id, owner_id=owner_id, status="open")
            .on_conflict_do_update(index_elements=[Incident.id], set_={"status": "open", "owner_id": owner_id})
        )
        await session.execute(
            update(IncidentMember).where(IncidentMember.ticket_id == anchor.ticket_id).values(incident_id=incident_id)
        )
    else:
        assert anchor.incident_id is not None
        incident_id = anchor.incident_id
    incident = await session.get(Incident, incident_id, populate_existing=True)
    assert incident is not None
    member.incident_id = incident_id
    member.similarity = match.similarity
    member.reason = reason
    log.info("incident_match", ticket_id=str(snapshot.id), incident_id=str(incident_id), similarity=match.similarity)
    return IncidentProposal(
        incident_id=incident_id,
        opened=opened,
        anchor_ticket_id=incident.anchor_ticket_id,
        matched_ticket_id=anchor.ticket_id,
        similarity=min(1.0, max(0.0, match.similarity)),
        reason=reason,
        owner=await _owner(session, incident.owner_id),
    )


async def adopt_owner(session: AsyncSession, proposal: IncidentProposal, owner: Assignee) -> IncidentProposal:
    """An incident without an owner takes the assignee of the member just assigned normally."""
    await session.execute(
        update(Incident)
        .where(Incident.id == proposal.incident_id, Incident.owner_id.is_(None))
        .values(owner_id=owner.id)
    )
    return proposal.model_copy(update={"owner": owner})


async def apply_incident_event(session: AsyncSession, event: IncidentUpdated) -> None:
    """Follow what staff did to an incident: detaches (kept as "not the same"), merges, resolution."""
    snap = event.incident
    incident = await session.get(Incident, snap.id, with_for_update=True)
    if incident is None:
        return  # not one triage proposed (or long gone): nothing to follow
    # a detach is a labelled example whenever it arrives; state follows the newest version only
    if event.change == "detached":
        for ticket_id in event.ticket_ids:
            await session.execute(
                update(IncidentMember)
                .where(IncidentMember.ticket_id == ticket_id, IncidentMember.incident_id == snap.id)
                .values(incident_id=None, similarity=None, reason=None)
            )
            await session.execute(
                insert(IncidentFeedback)
                .values(ticket_id=ticket_id, incident_id=snap.id, label="not_same", actor_id=event.actor.id)
                .on_conflict_do_nothing()
            )
        log.info("incident_detached", incident_id=str(snap.id), tickets=len(event.ticket_ids))
    if event.version <= incident.version:
        log.info("incident_event_stale", incident_id=str(snap.id), version=event.version)
        return
    incident.version = event.version
    if snap.owner is not None:
        incident.owner_id = snap.owner.id
    if snap.status == "merged" and snap.merged_into is not None:
        await session.execute(
            update(IncidentMember).where(IncidentMember.incident_id == snap.id).values(incident_id=snap.merged_into)
        )
    if snap.status != "open":
        incident.status = "closed"
