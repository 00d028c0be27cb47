"""Business rules of triage: directory, workload, assignment, decisions, examples. No commits here."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from shared.events import (
    OPEN_STATUSES,
    PRIORITIES,
    EventData,
    IncidentProposal,
    Priority,
    TicketSnapshot,
    TicketTriaged,
    TicketTriageFailed,
    TicketUpdated,
)
from shared.logging import current_correlation_id, get_logger
from shared.outbox import add_event, add_events
from sqlalchemy import func, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from triage import incidents, repository, track_record
from triage.analyzer.base import Analysis
from triage.analyzer.screen import screen
from triage.analyzer.starter import FALLBACK_CATEGORY
from triage.assignment import (
    Attempt,
    StaffMember,
    Track,
    nobody_reason,
    plan,
    rank_admins,
    waiting_reason,
)
from triage.copies import apply_snapshot, count_against, locked_ticket, record_ticket
from triage.directory import assignee, member
from triage.models import Decision, Staff, TicketCopy, outbox
from triage.skills import clean_skills, normalise
from triage.track_record import routing_examples

log = get_logger(__name__)


def input_hash(*, title: str, description: str, categories: Sequence[str]) -> str:
    """SHA-256 of what the analyzer saw, so a decision can be replayed against a new model."""
    raw = json.dumps(
        {"title": title, "description": description, "categories": list(categories)},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


Overflow = Literal["wait", "least_loaded"]
_PRIORITY: dict[str, Priority] = {p: p for p in PRIORITIES}


def clamp_analysis(analysis: Analysis, *, categories: Sequence[str]) -> tuple[str, Priority]:
    """The analysis' category and priority forced into the configured values."""
    by_key = {normalise(c): c for c in categories}
    category = by_key.get(normalise(analysis.category))
    if category is None:
        category = by_key.get(normalise(FALLBACK_CATEGORY), categories[0])
    return category, _PRIORITY.get(analysis.priority, "medium")


# --- ticket copies and workload ---------------------------------------------------------------


async def apply_ticket_update(
    *, session: AsyncSession, event: TicketUpdated, categories: Sequence[str], capacity: int = 20
) -> bool:
    """Follow status/assignee changes in the workload; keep human corrections. True if one was kept.

    A slot this frees goes at once to the longest-waiting ticket its moderator fits.
    """
    ticket = await locked_ticket(session, event.ticket, version=event.version)
    if event.version <= ticket.version:
        log.info("ticket_update_stale", ticket_id=str(ticket.ticket_id), version=event.version)
        return False
    apply_snapshot(ticket, event.ticket, event.version)
    snap = event.ticket
    if ticket.state == "waiting" and (snap.assigned_to or snap.status not in OPEN_STATUSES):
        _stop_waiting(ticket)  # a person assigned or closed it: it waits no more
    holder = snap.assigned_to.id if snap.assigned_to and snap.status in OPEN_STATUSES else None
    released = ticket.counted_for
    await count_against(session, ticket, holder)
    await repository.add_solved(session, routing_examples(event))
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


@dataclass(frozen=True)
class Verdict:
    """How a run ends for the ticket: the decision's outcome, who gets it, why (and whom it waits for)."""

    outcome: Literal["triaged", "waiting", "failed"]
    assignee: Staff | None
    reason: str
    waiting_for: tuple[uuid.UUID, ...] = ()
    # the incident the ticket is part of (with an owner and no assignee: worked through it)
    incident: IncidentProposal | None = None


SKIPPED = Outcome(None, None, "attempt already handled or superseded", skipped=True)


async def _claim(session: AsyncSession, snapshot: TicketSnapshot, *, version: int, attempt: int) -> TicketCopy | None:
    """Step 1 of every run: the copy, locked, if this attempt is still to be handled; whoever held
    the ticket gives it back and it waits no more (a retriage hands it out afresh)."""
    ticket = await record_ticket(session=session, snapshot=snapshot, version=version, attempt=attempt)
    if ticket.triaged_attempt >= attempt or ticket.attempt > attempt:
        return None
    await count_against(session, ticket, None)
    _stop_waiting(ticket)
    return ticket


async def _settle(
    session: AsyncSession,
    ticket: TicketCopy,
    verdict: Verdict,
    decision: Decision,
    *,
    title: str,
    batch: Batch | None = None,
) -> None:
    """The last steps of every run: log the decision, set the copy's state, emit the event."""
    session.add(decision)
    ticket.triaged_attempt = decision.attempt
    chosen = verdict.assignee
    if chosen is not None:
        ticket.counted_for = chosen.user_id
        ticket.assignee_id = chosen.user_id
    event: EventData
    if verdict.outcome == "waiting":
        ticket.state = "waiting"
        ticket.priority = decision.priority
        ticket.waiting_for = [str(user_id) for user_id in verdict.waiting_for]
        ticket.waiting_since = func.now()
        event = _triaged_event(decision, None, waiting_for=verdict.waiting_for, incident=verdict.incident)
    elif verdict.outcome == "failed":
        ticket.state = "failed"
        fallback = assignee(chosen) if chosen else None
        event = TicketTriageFailed(
            ticket_id=ticket.ticket_id,
            attempt=decision.attempt,
            reason=verdict.reason,
            fallback_assignee=fallback,
            title=title,
        )
    else:
        ticket.state = "done"
        event = _triaged_event(decision, chosen, incident=verdict.incident)
    await _emit(session, event, batch)


def _decision(ticket: TicketCopy, attempt: int, verdict: Verdict, **analysed: Any) -> Decision:
    """The decision log's row of a run (the analysis' fields, none for a run without one)."""
    return Decision(
        id=uuid.uuid4(),
        ticket_id=ticket.ticket_id,
        attempt=attempt,
        outcome=verdict.outcome,
        assignee_id=verdict.assignee.user_id if verdict.assignee else None,
        assignee_name=verdict.assignee.name if verdict.assignee else None,
        assignment_reason=verdict.reason,
        **analysed,
    )


async def _choose(
    session: AsyncSession,
    *,
    steps: Sequence[Attempt],
    rows: dict[uuid.UUID, Staff],
    staff: Sequence[StaffMember],
    skills: tuple[str, ...],
    category: str,
    capacity: int,
    overflow: Overflow,
) -> Verdict:
    """Take a slot on the first who fits and has one; else overflow (wait, or the least loaded)."""
    chosen, reason = await _take_first(session, steps, rows, capacity)
    if chosen is not None:
        return Verdict("triaged", chosen, reason)
    fitting = [s for s in steps if s.member.role == "moderator"]
    if not fitting:
        return Verdict("failed", None, nobody_reason(staff=staff, skills=skills, category=category))
    if overflow == "wait":
        return Verdict(
            "waiting", None, waiting_reason(fitting), tuple(dict.fromkeys(s.member.user_id for s in fitting))
        )
    step = min(fitting, key=lambda s: (rows[s.member.user_id].open_count, -s.score, str(s.member.user_id)))
    if await repository.add_open(session, user_id=step.member.user_id):
        reason = f"{step.reason}; every moderator who fits was at capacity, so the least loaded of them, above capacity"
        return Verdict("triaged", rows[step.member.user_id], reason)
    return Verdict("failed", None, "")


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
    ticket = await _claim(session, snapshot, version=version, attempt=attempt)
    if ticket is None:
        return SKIPPED
    category, priority = clamp_analysis(analysis, categories=categories)
    skills = clean_skills(analysis.related_skills, limit=10)
    rows = await batch.staff(session) if batch else {r.user_id: r for r in await repository.active_staff(session)}
    staff = [member(r, capacity) for r in rows.values()]
    # Routing reads what the ticket describes, never what it tells the triage to do.
    routed_on = screen(snapshot.title, snapshot.description).text
    history = (
        await batch.history(session, category) if batch else await track_record.history(session, category=category)
    )
    detector = None
    if incident_rules is not None:
        detector = batch.detector(incident_rules) if batch else incidents.Detector(incident_rules, [snapshot])
    proposal = await detector.detect(session, snapshot, status=ticket.status) if detector else None
    if proposal is not None and proposal.owner is not None:
        why = f"part of incident {proposal.incident_id} worked by {proposal.owner.name}: {proposal.reason}"
        verdict = Verdict("triaged", None, why, incident=proposal)
    else:
        steps = plan(skills=skills, category=category, staff=staff, text=routed_on, history=history)
        verdict = await _choose(
            session,
            steps=steps,
            rows=rows,
            staff=staff,
            skills=skills,
            category=category,
            capacity=capacity,
            overflow=overflow,
        )
        if proposal is not None and verdict.outcome != "failed":
            # an incident without an owner yet: this ticket's assignee (by the normal rules) works it
            if verdict.assignee is not None and detector is not None:
                proposal = await detector.adopt_owner(session, proposal, assignee(verdict.assignee))
            verdict = replace(verdict, incident=proposal)
    decision = _decision(
        ticket,
        attempt,
        verdict,
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
    )
    await _settle(session, ticket, verdict, decision, title=snapshot.title, batch=batch)
    if verdict.outcome == "waiting":
        log.info("triage_waiting", ticket_id=str(ticket.ticket_id), fitting=len(verdict.waiting_for))
    elif verdict.outcome == "failed":
        log.warning("triage_failed_nobody", ticket_id=str(ticket.ticket_id), reason=verdict.reason)
    chosen = verdict.assignee
    return Outcome(decision.id, chosen.user_id if chosen else None, verdict.reason)


_UNREAD = frozenset({"updated_at"})  # staff columns no triage decision reads


class Batch:
    """What the tickets of one batch transaction share: staff rows, routing history, events, and
    incident detection (`snapshots`: the batch's tickets in order, compared all at once)."""

    def __init__(self, snapshots: Sequence[TicketSnapshot] = ()) -> None:
        self._staff: dict[uuid.UUID, Staff] | None = None
        self._history: dict[str, dict[uuid.UUID, Track]] = {}
        self.snapshots = list(snapshots)
        self._detector: incidents.Detector | None = None
        self.events: list[tuple[EventData, str | None, str | None]] = []

    def detector(self, rules: incidents.Rules) -> incidents.Detector:
        if self._detector is None:
            self._detector = incidents.Detector(rules, self.snapshots)
        return self._detector

    async def staff(self, session: AsyncSession) -> dict[uuid.UUID, Staff]:
        # Slots taken in this transaction update the loaded rows in place (the ORM UPDATE's
        # synchronisation); a row it had to expire instead (a slot given back) means: read again.
        # Not for `updated_at` (every UPDATE expires it, no decision reads it): that re-read the
        # staff for every ticket of a batch.
        if self._staff is None or any(inspect(r).expired_attributes - _UNREAD for r in self._staff.values()):
            self._staff = {r.user_id: r for r in await repository.active_staff(session)}
        return self._staff

    async def history(self, session: AsyncSession, category: str) -> dict[uuid.UUID, Track]:
        if category not in self._history:
            self._history[category] = await track_record.history(session, category=category)
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
        assignee=assignee(chosen) if chosen else None,
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
    reason = f"{waited.assignment_reason}; {row.name} freed a slot and took it ({row.open_count + 1} open)"
    verdict = Verdict("triaged", row, reason)
    decision = _decision(
        ticket,
        waited.attempt,
        verdict,
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
    )
    _stop_waiting(ticket)
    await _settle(session, ticket, verdict, decision, title=ticket.title)
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
    ticket = await _claim(session, snapshot, version=version, attempt=attempt)
    if ticket is None:
        return SKIPPED
    rows = {r.user_id: r for r in await repository.active_staff(session)}
    admins = [Attempt(member=m, reason="") for m in rank_admins(member(r, 0) for r in rows.values())]
    admin, _ = await _take_first(session, admins, rows, 0)
    if admin is not None:
        reason = f"{why}; assigned to the least loaded admin {admin.name} ({admin.open_count} open)"
    else:
        reason = f"{why}; no admin is known to triage, assign it by hand"
    verdict = Verdict("failed", admin, reason)
    hashed = input_hash(title=snapshot.title, description=snapshot.description, categories=[])
    decision = _decision(ticket, attempt, verdict, input_hash=hashed, related_skills=[])
    await _settle(session, ticket, verdict, decision, title=snapshot.title)
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
