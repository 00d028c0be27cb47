"""Business rules of triage: directory, workload, assignment, decisions, examples. No commits here."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.events import (
    Assignee,
    EventData,
    IncidentProposal,
    TicketSnapshot,
    TicketTriaged,
    TicketTriageFailed,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.logging import current_correlation_id, get_logger
from shared.outbox import add_event, add_events
from sqlalchemy import func, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from triage import incidents, repository
from triage.analyzer.base import PRIORITIES, Analysis
from triage.analyzer.screen import screen
from triage.assignment import (
    HISTORY_DAYS,
    Attempt,
    StaffMember,
    Track,
    nobody_reason,
    plan,
    rank_admins,
    waiting_reason,
)
from triage.models import Decision, Staff, TicketCopy, outbox
from triage.skills import clean_skills, normalise

log = get_logger(__name__)

STAFF_ROLES = ("moderator", "admin")
ACTIVE_STATUSES = ("open", "in_progress")


def input_hash(*, title: str, description: str, categories: Sequence[str]) -> str:
    """SHA-256 of what the analyzer saw, so a decision can be replayed against a new model."""
    raw = json.dumps(
        {"title": title, "description": description, "categories": list(categories)},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


Priority = Literal["low", "medium", "high"]
Overflow = Literal["wait", "least_loaded"]
_PRIORITY: dict[str, Priority] = {"low": "low", "medium": "medium", "high": "high"}


def clamp_analysis(analysis: Analysis, *, categories: Sequence[str]) -> tuple[str, Priority]:
    """The analysis' category and priority forced into the configured values."""
    by_key = {normalise(c): c for c in categories}
    category = by_key.get(normalise(analysis.category))
    if category is None:
        category = by_key.get(normalise("General Inquiry"), categories[0])
    return category, _PRIORITY.get(analysis.priority, "medium")


# --- directory ------------------------------------------------------------------------------


async def apply_user(*, session: AsyncSession, event: UserRegistered | UserUpdated) -> None:
    """Keep the moderator/admin directory in step with auth; users never get tickets."""
    row = await repository.get_staff_for_update(session, event.user_id)
    revision = event.revision if isinstance(event, UserUpdated) else 0
    active = event.active if isinstance(event, UserUpdated) else True
    is_staff = event.role in STAFF_ROLES and active
    if row is None:
        if not is_staff:
            return
        session.add(
            Staff(
                user_id=event.user_id,
                email=event.email,
                name=event.name,
                role=event.role,
                skills=list(clean_skills(event.skills)),
                active=True,
                open_count=0,
                revision=revision,
            )
        )
        return
    if isinstance(event, UserUpdated) and revision and revision < row.revision:
        log.info("user_update_stale", user_id=str(event.user_id))
        return
    row.email = event.email
    row.name = event.name
    row.role = event.role
    row.skills = list(clean_skills(event.skills))
    row.active = is_staff
    row.revision = max(row.revision, revision)


def _member(row: Staff, default_capacity: int) -> StaffMember:
    return StaffMember(
        user_id=row.user_id,
        role="admin" if row.role == "admin" else "moderator",
        name=row.name,
        skills=tuple(row.skills or ()),
        open_count=row.open_count,
        capacity=None if row.role == "admin" else (row.capacity or default_capacity),
    )


def _assignee(row: Staff) -> Assignee:
    role: Literal["moderator", "admin"] = "admin" if row.role == "admin" else "moderator"
    return Assignee(id=row.user_id, name=row.name, email=row.email, role=role)


# --- ticket copies and workload ---------------------------------------------------------------


async def _locked_ticket(session: AsyncSession, snapshot: TicketSnapshot, *, version: int) -> TicketCopy:
    return await repository.lock_ticket(
        session,
        {
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
        },
    )


async def _count_against(session: AsyncSession, ticket: TicketCopy, who: uuid.UUID | None) -> None:
    """Move the ticket's place in someone's open workload to `who` (None: nobody)."""
    if ticket.counted_for == who:
        return
    if ticket.counted_for is not None:
        await repository.release_slot(session, user_id=ticket.counted_for)
        ticket.counted_for = None
    if who is not None and await repository.add_open(session, user_id=who):
        ticket.counted_for = who


def _apply_snapshot(ticket: TicketCopy, snapshot: TicketSnapshot, version: int) -> None:
    ticket.title = snapshot.title
    ticket.description = snapshot.description
    ticket.status = snapshot.status
    ticket.category = snapshot.category
    ticket.priority = snapshot.priority
    ticket.related_skills = list(snapshot.related_skills)
    ticket.assignee_id = snapshot.assigned_to.id if snapshot.assigned_to else None
    ticket.version = max(ticket.version, version)


async def apply_ticket_update(
    *, session: AsyncSession, event: TicketUpdated, categories: Sequence[str], capacity: int = 20
) -> bool:
    """Follow status/assignee changes in the workload; keep human corrections. True if one was kept.

    A slot this frees goes at once to the longest-waiting ticket its moderator fits.
    """
    ticket = await _locked_ticket(session, event.ticket, version=event.version)
    if event.version <= ticket.version:
        log.info("ticket_update_stale", ticket_id=str(ticket.ticket_id), version=event.version)
        return False
    _apply_snapshot(ticket, event.ticket, event.version)
    snap = event.ticket
    if ticket.state == "waiting" and (snap.assigned_to or snap.status not in ACTIVE_STATUSES):
        _stop_waiting(ticket)  # a person assigned or closed it: it waits no more
    holder = snap.assigned_to.id if snap.assigned_to and snap.status in ACTIVE_STATUSES else None
    released = ticket.counted_for
    await _count_against(session, ticket, holder)
    await repository.add_solved(session, _routing_examples(event))
    if released is not None and released != ticket.counted_for:
        await assign_waiting(session=session, user_id=released, capacity=capacity)

    corrected = {"priority", "category"} & set(event.changes)
    if not (event.actor.kind == "user" and corrected):
        return False
    if snap.category not in categories or snap.priority not in PRIORITIES:
        log.info("correction_not_learnable", ticket_id=str(snap.id))
        return False
    await repository.upsert_correction(
        session,
        {
            "title": snap.title,
            "description": snap.description,
            "category": snap.category,
            "priority": snap.priority,
            "skills": list(clean_skills(snap.related_skills)),
            "ticket_id": snap.id,
        },
    )
    log.info("correction_recorded", ticket_id=str(snap.id), fields=sorted(corrected))
    return True


# --- triage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a triage run did (for logs and tests)."""

    decision_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    reason: str
    skipped: bool = False


async def record_ticket(*, session: AsyncSession, snapshot: TicketSnapshot, version: int, attempt: int) -> TicketCopy:
    """Create or refresh the copy for a (re)triage request and return it locked."""
    ticket = await _locked_ticket(session, snapshot, version=version)
    if version > ticket.version:
        _apply_snapshot(ticket, snapshot, version)
    ticket.attempt = max(ticket.attempt, attempt)
    return ticket


async def triage_ticket(
    *,
    session: AsyncSession,
    snapshot: TicketSnapshot,
    version: int,
    attempt: int,
    analysis: Analysis,
    model_version: int | None,
    categories: Sequence[str],
    capacity: int,
    overflow: Overflow = "wait",
    batch: Batch | None = None,
    incident_rules: incidents.Rules | None = None,
) -> Outcome:
    """Assign the analysed ticket (or queue it for a fitting moderator), log it, queue the event.

    `batch`: one of several tickets triaged in this transaction; the staff rows and routing
    history are read once for all, and the events go out together (`Batch.finish`).
    `incident_rules`: look for a burst of similar open tickets first; a ticket that joins an
    incident with an owner is not assigned on its own (the owner works the incident).
    """
    ticket = await record_ticket(session=session, snapshot=snapshot, version=version, attempt=attempt)
    if ticket.triaged_attempt >= attempt or ticket.attempt > attempt:
        return Outcome(None, None, "attempt already handled or superseded", skipped=True)

    category, priority = clamp_analysis(analysis, categories=categories)
    skills = clean_skills(analysis.related_skills, limit=10)
    # a retriage gives the ticket back before it is handed out again
    await _count_against(session, ticket, None)
    _stop_waiting(ticket)
    proposal = await incidents.detect(session, snapshot=snapshot, rules=incident_rules) if incident_rules else None
    grouped = proposal is not None and proposal.owner is not None

    rows = await batch.staff(session) if batch else {r.user_id: r for r in await repository.active_staff(session)}
    staff = [_member(r, capacity) for r in rows.values()]
    # Routing reads what the ticket describes, never what it tells the triage to do.
    routed_on = screen(snapshot.title, snapshot.description).text
    history = await batch.history(session, category) if batch else await _history(session, category=category)
    steps = [] if grouped else plan(skills=skills, category=category, staff=staff, text=routed_on, history=history)
    chosen, reason = await _take_first(session, steps, rows, capacity)
    fitting = [s for s in steps if s.member.role == "moderator"]
    waiting = False
    if grouped and proposal is not None and proposal.owner is not None:
        reason = f"part of incident {proposal.incident_id} worked by {proposal.owner.name}: {proposal.reason}"
    elif chosen is None and fitting:
        if overflow == "least_loaded":
            step = min(fitting, key=lambda s: (rows[s.member.user_id].open_count, -s.score, str(s.member.user_id)))
            if await repository.add_open(session, user_id=step.member.user_id):
                chosen = rows[step.member.user_id]
                reason = (
                    f"{step.reason}; every moderator who fits was at capacity, so the least "
                    f"loaded of them, above capacity"
                )
        else:
            waiting = True
            reason = waiting_reason(fitting)
    elif chosen is None:
        reason = nobody_reason(staff=staff, skills=skills, category=category)

    decision = Decision(
        id=uuid.uuid4(),
        ticket_id=ticket.ticket_id,
        attempt=attempt,
        outcome="waiting" if waiting else "triaged" if chosen or grouped else "failed",
        provider=analysis.provider,
        model=analysis.model,
        model_version=model_version if analysis.provider == "local" else None,
        input_hash=input_hash(title=snapshot.title, description=snapshot.description, categories=categories),
        category=category,
        priority=priority,
        related_skills=list(skills),
        summary=analysis.summary,
        helpful_notes=analysis.helpful_notes,
        confidence=min(1.0, max(0.0, float(analysis.confidence))),
        assignee_id=chosen.user_id if chosen else None,
        assignee_name=chosen.name if chosen else None,
        assignment_reason=reason,
    )
    session.add(decision)
    ticket.triaged_attempt = attempt
    if grouped:
        ticket.state = "done"
        await _emit(session, _triaged_event(decision, None, incident=proposal), batch)
        return Outcome(decision.id, None, reason)
    if waiting:
        ticket.state = "waiting"
        ticket.priority = priority
        waits_for = list(dict.fromkeys(s.member.user_id for s in fitting))
        ticket.waiting_for = [str(user_id) for user_id in waits_for]
        ticket.waiting_since = func.now()
        await _emit(session, _triaged_event(decision, None, waiting_for=waits_for, incident=proposal), batch)
        log.info("triage_waiting", ticket_id=str(ticket.ticket_id), fitting=len(fitting))
        return Outcome(decision.id, None, reason)
    if chosen is None:
        ticket.state = "failed"
        await _emit(
            session,
            TicketTriageFailed(ticket_id=ticket.ticket_id, attempt=attempt, reason=reason, title=snapshot.title),
            batch,
        )
        log.warning("triage_failed_nobody", ticket_id=str(ticket.ticket_id), reason=reason)
        return Outcome(decision.id, None, reason)

    ticket.state = "done"
    ticket.counted_for = chosen.user_id
    ticket.assignee_id = chosen.user_id
    if proposal is not None:  # an incident without an owner yet: this assignee works it
        proposal = await incidents.adopt_owner(session, proposal, _assignee(chosen))
    await _emit(session, _triaged_event(decision, chosen, incident=proposal), batch)
    return Outcome(decision.id, chosen.user_id, reason)


class Batch:
    """What the tickets of one batch transaction share: staff rows, routing history, events."""

    def __init__(self) -> None:
        self._staff: dict[uuid.UUID, Staff] | None = None
        self._history: dict[str, dict[uuid.UUID, Track]] = {}
        self.events: list[tuple[EventData, str | None, str | None]] = []

    async def staff(self, session: AsyncSession) -> dict[uuid.UUID, Staff]:
        # Slots taken in this transaction update the loaded rows in place (the ORM UPDATE's
        # synchronisation); a row it had to expire instead (a slot given back) means: read again.
        if self._staff is None or any(inspect(r).expired_attributes for r in self._staff.values()):
            self._staff = {r.user_id: r for r in await repository.active_staff(session)}
        return self._staff

    async def history(self, session: AsyncSession, category: str) -> dict[uuid.UUID, Track]:
        if category not in self._history:
            self._history[category] = await _history(session, category=category)
        return self._history[category]

    async def finish(self, session: AsyncSession) -> None:
        """Write the batch's events to the outbox: one INSERT, one NOTIFY."""
        await add_events(session, outbox, self.events)
        self.events = []


async def _emit(session: AsyncSession, event: EventData, batch: Batch | None) -> None:
    if batch is not None:
        batch.events.append((event, current_correlation_id(), tracing.current_traceparent()))
    else:
        await add_event(session, outbox, event)


async def _history(session: AsyncSession, *, category: str) -> dict[uuid.UUID, Track]:
    """Each moderator's record with this category over the last HISTORY_DAYS days."""
    since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for user_id, kind, n in await repository.solved_counts(session, category=category, since=since):
        counts.setdefault(user_id, {})[kind] = n
    return {uid: Track(**{k: v for k, v in c.items() if k in _TRACK_KINDS}) for uid, c in counts.items()}


_TRACK_KINDS = ("resolved", "reopened", "taken", "handed_off")
_DONE = ("resolved",)
_CLOSED = ("resolved", "closed")


def _routing_examples(event: TicketUpdated) -> list[dict[str, Any]]:
    """What a ticket update teaches about who solves which category (see `assignment.Track`)."""
    snap = event.ticket
    if not snap.category:
        return []
    rows: list[dict[str, Any]] = []

    def add(user_id: uuid.UUID, kind: str) -> None:
        rows.append({"user_id": user_id, "ticket_id": snap.id, "category": snap.category, "kind": kind})

    status = event.changes.get("status")
    holder = snap.assigned_to.id if snap.assigned_to else None
    if status is not None and holder is not None:
        if status.old in ACTIVE_STATUSES and status.new in _DONE:
            add(holder, "resolved")
        elif status.old in _CLOSED and status.new in ACTIVE_STATUSES:
            add(holder, "reopened")
    moved = event.changes.get("assigned_to")
    # a reassignment by staff is a labelled routing example, as a category correction is
    if moved is not None and event.actor.kind == "user" and event.actor.role in STAFF_ROLES:
        raw = moved.old.get("id") if isinstance(moved.old, dict) else None
        old = str(raw) if raw is not None else None
        if holder is not None and str(holder) != old:
            add(holder, "taken")
        if old is not None and old != str(holder):
            add(uuid.UUID(old), "handed_off")
    return rows


async def _take_first(
    session: AsyncSession, steps: Sequence[Attempt], rows: dict[uuid.UUID, Staff], capacity: int
) -> tuple[Staff | None, str]:
    """Take a slot on the first person in `steps` who has one: (who, the reason that applies)."""
    # Among the best-scored moderators, one whose row another triage holds right now is about
    # to get a ticket: take an equally good one that is free instead of queueing behind it.
    best = [s for s in steps if s.member.role == "moderator" and s.score == steps[0].score]
    for step in best if len(best) > 1 else []:
        taken = await repository.take_slot(session, user_id=step.member.user_id, limit=capacity, skip_locked=True)
        if taken is not None:
            return rows[step.member.user_id], step.reason
    for step in steps:
        limit = capacity if step.member.role == "moderator" else None
        if await repository.take_slot(session, user_id=step.member.user_id, limit=limit) is not None:
            return rows[step.member.user_id], step.reason
    return None, ""


def _triaged_event(
    decision: Decision,
    chosen: Staff | None,
    *,
    waiting_for: Sequence[uuid.UUID] = (),
    incident: IncidentProposal | None = None,
) -> TicketTriaged:
    return TicketTriaged(
        ticket_id=decision.ticket_id,
        attempt=decision.attempt,
        category=decision.category or "",
        priority=_PRIORITY.get(decision.priority or "", "medium"),
        related_skills=list(decision.related_skills or ()),
        summary=decision.summary or "",
        helpful_notes=decision.helpful_notes or "",
        confidence=decision.confidence or 0.0,
        provider=decision.provider or "local",
        model=decision.model or "",
        assignee=_assignee(chosen) if chosen else None,
        assignment_reason=decision.assignment_reason,
        decision_id=decision.id,
        waiting_for=list(waiting_for),
        incident=incident,
    )


def _stop_waiting(ticket: TicketCopy) -> None:
    if ticket.state == "waiting":
        ticket.state = "done"
    ticket.waiting_for = None
    ticket.waiting_since = None


async def assign_waiting(*, session: AsyncSession, user_id: uuid.UUID, capacity: int) -> uuid.UUID | None:
    """A moderator freed a slot: hand them the waiting ticket they fit that waited longest.

    Returns the ticket id, or None when nothing waits for them (or they are full again).
    """
    ticket = await repository.next_waiting(session, user_id=user_id)
    if ticket is None:
        return None
    row = await repository.get_staff_for_update(session, user_id)
    if row is None or not row.active or row.role != "moderator":
        return None
    if await repository.take_slot(session, user_id=user_id, limit=capacity) is None:
        return None
    waited = await repository.waiting_decision(session, ticket_id=ticket.ticket_id, attempt=ticket.triaged_attempt)
    if waited is None:  # cannot happen while the decision log is kept; never leave a slot taken
        await repository.release_slot(session, user_id=user_id)
        log.error("waiting_decision_missing", ticket_id=str(ticket.ticket_id))
        return None
    decision = Decision(
        id=uuid.uuid4(),
        ticket_id=ticket.ticket_id,
        attempt=waited.attempt,
        outcome="triaged",
        provider=waited.provider,
        model=waited.model,
        model_version=waited.model_version,
        input_hash=waited.input_hash,
        category=waited.category,
        priority=waited.priority,
        related_skills=list(waited.related_skills or ()),
        summary=waited.summary,
        helpful_notes=waited.helpful_notes,
        confidence=waited.confidence,
        assignee_id=row.user_id,
        assignee_name=row.name,
        assignment_reason=(
            f"{waited.assignment_reason}; {row.name} freed a slot and took it ({row.open_count + 1} open)"
        ),
    )
    session.add(decision)
    _stop_waiting(ticket)
    ticket.counted_for = row.user_id
    ticket.assignee_id = row.user_id
    await add_event(session, outbox, _triaged_event(decision, row))
    log.info("waiting_ticket_assigned", ticket_id=str(ticket.ticket_id), assignee=str(user_id))
    return ticket.ticket_id


async def fail_to_admin(
    *,
    session: AsyncSession,
    snapshot: TicketSnapshot,
    version: int,
    attempt: int,
    why: str,
) -> Outcome:
    """After the delivery limit: mark the ticket failed and hand it to the least loaded admin."""
    ticket = await record_ticket(session=session, snapshot=snapshot, version=version, attempt=attempt)
    if ticket.triaged_attempt >= attempt or ticket.attempt > attempt:
        return Outcome(None, None, "attempt already handled or superseded", skipped=True)
    await _count_against(session, ticket, None)
    rows = {r.user_id: r for r in await repository.active_staff(session)}
    admin: Staff | None = None
    for member in rank_admins(_member(r, 0) for r in rows.values()):
        if await repository.take_slot(session, user_id=member.user_id, limit=None) is not None:
            admin = rows[member.user_id]
            break
    if admin is not None:
        reason = f"{why}; assigned to the least loaded admin {admin.name} ({admin.open_count} open)"
        ticket.counted_for = admin.user_id
        ticket.assignee_id = admin.user_id
    else:
        reason = f"{why}; no admin is known to triage, assign it by hand"
    session.add(
        Decision(
            id=uuid.uuid4(),
            ticket_id=ticket.ticket_id,
            attempt=attempt,
            outcome="failed",
            input_hash=input_hash(title=snapshot.title, description=snapshot.description, categories=[]),
            related_skills=[],
            assignee_id=admin.user_id if admin else None,
            assignee_name=admin.name if admin else None,
            assignment_reason=reason,
        )
    )
    ticket.triaged_attempt = attempt
    ticket.state = "failed"
    await add_event(
        session,
        outbox,
        TicketTriageFailed(
            ticket_id=ticket.ticket_id,
            attempt=attempt,
            reason=reason,
            fallback_assignee=_assignee(admin) if admin else None,
            title=snapshot.title,
        ),
    )
    log.error("triage_dead_lettered", ticket_id=str(ticket.ticket_id), reason=reason)
    return Outcome(None, admin.user_id if admin else None, reason)


# --- administration -------------------------------------------------------------------------


async def set_categories(*, session: AsyncSession, items: Sequence[tuple[str, str]]) -> None:
    """Replace the configured categories."""
    await repository.replace_categories(session, items)


async def import_examples(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Store labelled examples for the next training run."""
    return await repository.add_examples(session, rows)


async def decisions_page(
    *,
    session: AsyncSession,
    ticket_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Decision]:
    """One page of the decision log."""
    return await repository.list_decisions(session, ticket_id=ticket_id, limit=limit, after=after)
