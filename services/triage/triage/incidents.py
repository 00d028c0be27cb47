"""Incident detection: a new ticket much like recent open ones joins their incident or opens one.

Triage only proposes (`IncidentProposal` in ticket.triaged); the tickets service owns incidents.
Detection runs inside the triage transaction, after one advisory lock that serialises it across
workers (taken once per batch, `Detector`): two tickets of a burst triaged at once cannot both
miss each other, and the proposals follow the order tickets were triaged in. A member of an
incident with an owner takes no slot: the owner works the incident through its first ticket,
which was assigned by the normal rules.
"""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from shared.events import OPEN_STATUSES, Assignee, IncidentProposal, IncidentUpdated, TicketSnapshot
from shared.logging import get_logger
from sqlalchemy import Row, func, literal_column, select, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.models import Incident, IncidentFeedback, IncidentMember, Staff, TicketCopy
from triage.similarity import (
    COSINE_TOLERANCE,
    Candidate,
    Features,
    Match,
    TermColumns,
    Vector,
    cosines,
    features,
    incident_id_for,
    similarity,
)

log = get_logger(__name__)

# pg_advisory_xact_lock key of detection ("incident" in ASCII, as a bigint)
LOCK_KEY = 0x696E636964656E74
MAX_CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class Rules:
    """The detection settings (TRIAGE_INCIDENT_*)."""

    threshold: float
    window_s: float
    # this worker's memory of ticket texts (see TextMemory): built once, with the rules
    memory: TextMemory = field(default_factory=lambda: TextMemory(), compare=False, repr=False)


def _assignee(row: Staff) -> Assignee:
    return Assignee(
        id=row.user_id, name=row.name, email=row.email, role="admin" if row.role == "admin" else "moderator"
    )


async def _owner(session: AsyncSession, owner_id: uuid.UUID | None) -> Assignee | None:
    if owner_id is None:
        return None
    row = await session.get(Staff, owner_id)
    return _assignee(row) if row is not None and row.active else None


class TextMemory:
    """The features of tickets (their title and description never change) and their vectors in
    this process's term columns, computed once per process: one memory per worker, built with
    its Rules at start (no module-level state). Bounded: the oldest features go past
    `max_features`, the columns start afresh past `max_columns` terms (at a batch's start, never
    within one)."""

    def __init__(self, *, max_features: int = 20_000, max_columns: int = 200_000) -> None:
        self.max_features = max_features
        self.max_columns = max_columns
        self._features: OrderedDict[uuid.UUID, Features] = OrderedDict()
        self._vectors: dict[uuid.UUID, Vector] = {}
        self.columns = TermColumns()

    def __contains__(self, ticket_id: uuid.UUID) -> bool:
        return ticket_id in self._features

    def __getitem__(self, ticket_id: uuid.UUID) -> Features:
        return self._features[ticket_id]

    def get(self, ticket_id: uuid.UUID) -> Features | None:
        return self._features.get(ticket_id)

    def remember(self, ticket_id: uuid.UUID, feats: Features) -> None:
        self._features[ticket_id] = feats
        while len(self._features) > self.max_features:
            gone, _ = self._features.popitem(last=False)
            self._vectors.pop(gone, None)

    def vector(self, ticket_id: uuid.UUID) -> Vector:
        found = self._vectors.get(ticket_id)
        if found is None:
            found = self._vectors[ticket_id] = self.columns.vector(self._features[ticket_id])
        return found

    def fresh_columns_if_full(self) -> None:
        if len(self.columns) > self.max_columns:
            self.columns.clear()
            self._vectors.clear()

    async def load(self, session: AsyncSession, ticket_ids: list[uuid.UUID]) -> dict[uuid.UUID, Features]:
        """The features of these tickets, read from the ticket copies for those not yet known."""
        found = {tid: self._features[tid] for tid in ticket_ids if tid in self._features}
        missing = [tid for tid in ticket_ids if tid not in found]
        if missing:
            texts = await session.execute(
                select(TicketCopy.ticket_id, TicketCopy.title, TicketCopy.description).where(
                    TicketCopy.ticket_id.in_(missing)
                )
            )
            for tid, title, description in texts.all():
                found[tid] = features(title, description)
                self.remember(tid, found[tid])
        return found


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(slots=True)
class _Incident:
    anchor_ticket_id: uuid.UUID
    owner_id: uuid.UUID | None
    status: str


class Detector:
    """Detection for the tickets of one transaction (a batch, or a single ticket), in their order.

    The first `detect` takes the advisory lock (held to the commit: detection stays serialised
    across workers, once per batch instead of once per ticket), reads the recent candidates of
    every ticket of the batch in one query, their features (cached per process) and compares all
    of the batch's tickets with all of them in one sparse product. Each ticket is then decided in
    turn exactly as one at a time: it sees the candidates committed before the lock, the earlier
    tickets of the batch (their memberships as decided here), never the later ones unless they
    were members already; the nearest MAX_CANDIDATES in time; ties and the threshold decided by
    `similarity` itself. New member rows are written with the transaction (no flush per ticket).
    """

    def __init__(self, rules: Rules, snapshots: Sequence[TicketSnapshot] = ()) -> None:
        self._rules = rules
        self._memory = rules.memory
        self._window = timedelta(seconds=rules.window_s)
        self._pending: dict[uuid.UUID, TicketSnapshot] = {s.id: s for s in snapshots}
        self._locked = False
        self._stale = True
        self._members: dict[uuid.UUID, IncidentMember] = {}
        self._incidents: dict[uuid.UUID, _Incident] = {}
        self._excluded: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        # the candidates as this transaction sees them: one column per ticket
        self._column: dict[uuid.UUID, int] = {}
        self._ids: list[uuid.UUID] = []
        self._filed: list[datetime] = []
        self._incident_of: list[uuid.UUID | None] = []
        self._filed_us = np.empty(0, np.int64)
        self._id_rank = np.empty(0, np.int64)
        self._visible = np.empty(0, np.bool_)
        self._row: dict[uuid.UUID, int] = {}
        self._scores = np.empty((0, 0))

    async def _load(self, session: AsyncSession) -> None:
        memory = self._memory
        if not self._locked:
            await session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
            self._locked = True
        # what the batch changed so far is visible to the queries below (one flush per load)
        await session.flush()
        memory.fresh_columns_if_full()
        pending = list(self._pending)
        unseen = [tid for tid in pending if tid not in self._members]
        if unseen:
            for member in await session.scalars(
                select(IncidentMember).where(IncidentMember.ticket_id.in_(unseen)).with_for_update()
            ):
                self._members[member.ticket_id] = member
            excluded: dict[uuid.UUID, set[uuid.UUID]] = {}
            for tid, incident_id in await session.execute(
                select(IncidentFeedback.ticket_id, IncidentFeedback.incident_id).where(
                    IncidentFeedback.ticket_id.in_(unseen)
                )
            ):
                excluded.setdefault(tid, set()).add(incident_id)
            for tid in unseen:
                self._excluded[tid] = frozenset(excluded.get(tid, ()))
        rows = await self._candidates(session, [self._pending[tid].created_at for tid in pending])
        for tid in pending:
            snap = self._pending[tid]
            if tid not in memory:
                memory.remember(tid, features(snap.title, snap.description))
        feats = await memory.load(session, [r.ticket_id for r in rows])
        self._column = {}
        self._ids, self._filed, self._incident_of = [], [], []
        visible: list[bool] = []
        for r in rows:
            if r.ticket_id in feats:
                self._add_column(r.ticket_id, r.filed_at, r.incident_id, visible=True, out=visible)
        for tid in pending:  # their own rows, seen by later tickets once decided
            if tid not in self._column:
                self._add_column(tid, self._pending[tid].created_at, None, visible=False, out=visible)
        self._visible = np.array(visible, np.bool_)
        self._filed_us = np.array([_micros(at) for at in self._filed], np.int64)
        self._id_rank = np.empty(len(self._ids), np.int64)
        self._id_rank[sorted(range(len(self._ids)), key=self._ids.__getitem__)] = np.arange(len(self._ids))
        self._row = {tid: i for i, tid in enumerate(pending)}
        column_vectors = [memory.vector(tid) for tid in self._ids]
        self._scores = cosines([memory.vector(tid) for tid in pending], column_vectors, len(memory.columns))
        self._stale = False

    def _add_column(
        self, tid: uuid.UUID, filed_at: datetime, incident_id: uuid.UUID | None, *, visible: bool, out: list[bool]
    ) -> None:
        self._column[tid] = len(self._ids)
        self._ids.append(tid)
        self._filed.append(filed_at)
        self._incident_of.append(incident_id)
        out.append(visible)

    async def _candidates(self, session: AsyncSession, times: list[datetime]) -> list[Row[Any]]:
        """Every candidate any of `times` may have: all those filed between the first and the last,
        and the MAX_CANDIDATES nearest before and after them within the window."""
        first, last = min(times), max(times)
        base = (
            select(IncidentMember.ticket_id, IncidentMember.filed_at, IncidentMember.incident_id)
            .join(TicketCopy, TicketCopy.ticket_id == IncidentMember.ticket_id)
            .outerjoin(Incident, Incident.id == IncidentMember.incident_id)
            .where(
                TicketCopy.status.in_(OPEN_STATUSES),
                (IncidentMember.incident_id.is_(None)) | (Incident.status == "open"),
            )
        )
        between = base.where(IncidentMember.filed_at.between(first, last))
        before = (
            base.where(IncidentMember.filed_at < first, IncidentMember.filed_at >= first - self._window)
            .order_by(IncidentMember.filed_at.desc(), IncidentMember.ticket_id)
            .limit(MAX_CANDIDATES)
            .subquery()
        )
        after = (
            base.where(IncidentMember.filed_at > last, IncidentMember.filed_at <= last + self._window)
            .order_by(IncidentMember.filed_at, IncidentMember.ticket_id)
            .limit(MAX_CANDIDATES)
            .subquery()
        )
        stmt = union_all(between, select(before), select(after))
        return list((await session.execute(stmt)).all())

    async def _incident(self, session: AsyncSession, incident_id: uuid.UUID) -> _Incident | None:
        found = self._incidents.get(incident_id)
        if found is None:
            row = await session.get(Incident, incident_id, populate_existing=True)
            if row is None:
                return None
            found = self._incidents[incident_id] = _Incident(row.anchor_ticket_id, row.owner_id, row.status)
        return found

    def _seen(self, tid: uuid.UUID, incident_id: uuid.UUID | None, status: str) -> None:
        """The ticket decided: later tickets of the transaction see it as it now is."""
        self._pending.pop(tid, None)
        column = self._column.get(tid)
        if column is not None:
            self._incident_of[column] = incident_id
            self._visible[column] = status in OPEN_STATUSES

    async def detect(
        self, session: AsyncSession, snapshot: TicketSnapshot, *, status: str | None = None
    ) -> IncidentProposal | None:
        """Join or open an incident for this ticket if it matches a recent open one; None otherwise.

        `status`: the ticket's status in triage's copy (the snapshot's by default).
        """
        tid = snapshot.id
        status = status or snapshot.status
        if tid not in self._pending:
            self._pending[tid] = snapshot
            self._stale = True
        if self._stale or tid not in self._row:
            await self._load(session)
        member = self._members.get(tid)
        if member is None:
            member = self._members[tid] = IncidentMember(ticket_id=tid, filed_at=snapshot.created_at)
            session.add(member)
        elif member.incident_id is not None:
            # a retriage or a replay: the ticket stays where it is while its incident is open
            incident = await self._incident(session, member.incident_id)
            if incident is not None and incident.status == "open":
                self._seen(tid, member.incident_id, status)
                return IncidentProposal(
                    incident_id=member.incident_id,
                    anchor_ticket_id=incident.anchor_ticket_id,
                    matched_ticket_id=incident.anchor_ticket_id,
                    similarity=min(1.0, max(0.0, member.similarity or 0.0)),
                    reason=member.reason or "already part of this incident",
                    owner=await _owner(session, incident.owner_id),
                )
            member.incident_id = None
        match = self._best(snapshot)
        if match is None:
            self._seen(tid, None, status)
            return None
        anchor = match.candidate
        seconds = abs((snapshot.created_at - anchor.filed_at).total_seconds())
        reason = (
            f"like ticket {anchor.ticket_id} filed {seconds:.0f} s apart: similarity {match.similarity:.2f} "
            f"≥ {self._rules.threshold:.2f}, shared words: {', '.join(match.shared) or '(phrases only)'}"
        )
        opened = anchor.incident_id is None
        if opened:
            incident_id = await self._open(session, anchor.ticket_id)
        else:
            assert anchor.incident_id is not None
            incident_id = anchor.incident_id
        incident = await self._incident(session, incident_id)
        assert incident is not None
        member.incident_id = incident_id
        member.similarity = match.similarity
        member.reason = reason
        self._seen(tid, incident_id, status)
        log.info("incident_match", ticket_id=str(tid), incident_id=str(incident_id), similarity=match.similarity)
        return IncidentProposal(
            incident_id=incident_id,
            opened=opened,
            anchor_ticket_id=incident.anchor_ticket_id,
            matched_ticket_id=anchor.ticket_id,
            similarity=min(1.0, max(0.0, match.similarity)),
            reason=reason,
            owner=await _owner(session, incident.owner_id),
        )

    async def _open(self, session: AsyncSession, anchor_id: uuid.UUID) -> uuid.UUID:
        incident_id = incident_id_for(anchor_id)
        copy = await session.get(TicketCopy, anchor_id)
        owner_id = (copy.counted_for or copy.assignee_id) if copy is not None else None
        inserted = await session.scalar(
            insert(Incident)
            .values(id=incident_id, anchor_ticket_id=anchor_id, owner_id=owner_id, status="open")
            .on_conflict_do_update(index_elements=[Incident.id], set_={"status": "open", "owner_id": owner_id})
            .returning(literal_column("xmax = 0"))
        )
        known = self._incidents.get(incident_id)
        if not inserted and not (known and known.status == "open") and incident_id not in self._incident_of:
            # an incident closed before opens again: its members are candidates again
            self._stale = True
        self._incidents[incident_id] = _Incident(anchor_id, owner_id, "open")
        anchor = self._members.get(anchor_id)
        if anchor is not None:
            anchor.incident_id = incident_id
        else:
            await session.execute(
                update(IncidentMember).where(IncidentMember.ticket_id == anchor_id).values(incident_id=incident_id)
            )
        column = self._column.get(anchor_id)
        if column is not None:
            self._incident_of[column] = incident_id
        return incident_id

    def _best(self, snapshot: TicketSnapshot) -> Match | None:
        """`best_match` over the ticket's candidates, the sparse product's scores as a prefilter."""
        tid, threshold = snapshot.id, self._rules.threshold
        at = _micros(snapshot.created_at)
        mask = self._visible & (np.abs(self._filed_us - at) <= self._window // _MICROSECOND)
        own = self._column.get(tid)
        if own is not None:
            mask[own] = False
        columns = np.flatnonzero(mask)
        if len(columns) > MAX_CANDIDATES:
            # the nearest in time first, then the smaller id (as the query of one ticket orders them)
            order = np.lexsort((self._id_rank[columns], np.abs(self._filed_us[columns] - at)))
            columns = np.sort(columns[order[:MAX_CANDIDATES]])
        scores = self._scores[self._row[tid], columns]
        keep = scores >= threshold - COSINE_TOLERANCE
        columns, scores = columns[keep], scores[keep]
        excluded = self._excluded.get(tid, frozenset())
        if excluded and len(columns):
            allowed = np.array([self._incident_of[c] not in excluded for c in columns.tolist()], np.bool_)
            columns, scores = columns[allowed], scores[allowed]
        if not len(columns):
            return None
        # only those that may round to the best score can win (ties: earliest filed, smaller id)
        near = scores >= scores.max() - 1e-9 - 2 * COSINE_TOLERANCE
        new = self._memory.get(tid) or features(snapshot.title, snapshot.description)
        best: tuple[tuple[float, datetime, uuid.UUID], int, float | None] | None = None
        for column, approx in zip(columns[near].tolist(), scores[near].tolist(), strict=True):
            exact: float | None = None
            scaled = approx * 1e9
            if abs(approx - threshold) <= COSINE_TOLERANCE or abs(scaled - math.floor(scaled) - 0.5) <= 2e-3:
                # too close to the threshold or to a rounding step to trust the product: decide exactly
                exact = similarity(new, self._memory[self._ids[column]])
                if exact < threshold:
                    continue
                approx = exact
            key = (-round(approx, 9), self._filed[column], self._ids[column])
            if best is None or key < best[0]:
                best = (key, column, exact)
        if best is None:
            return None
        _, column, exact = best
        theirs = self._memory[self._ids[column]]
        candidate = Candidate(
            ticket_id=self._ids[column],
            filed_at=self._filed[column],
            features=theirs,
            incident_id=self._incident_of[column],
        )
        score = exact if exact is not None else similarity(new, theirs)
        return Match(candidate=candidate, similarity=score, shared=tuple(new.shared(theirs)))

    async def adopt_owner(self, session: AsyncSession, proposal: IncidentProposal, owner: Assignee) -> IncidentProposal:
        """An incident without an owner takes the assignee of the member just assigned normally."""
        await session.execute(
            update(Incident)
            .where(Incident.id == proposal.incident_id, Incident.owner_id.is_(None))
            .values(owner_id=owner.id)
        )
        known = self._incidents.get(proposal.incident_id)
        if known is not None and known.owner_id is None:
            known.owner_id = owner.id
        return proposal.model_copy(update={"owner": owner})


async def detect(session: AsyncSession, *, snapshot: TicketSnapshot, rules: Rules) -> IncidentProposal | None:
    """Join or open an incident for this one ticket if it matches a recent open one; None otherwise."""
    return await Detector(rules, [snapshot]).detect(session, snapshot)


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
