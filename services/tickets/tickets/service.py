"""The rules of tickets: who sees and changes what, status moves, SLA, triage results, events.

Functions here never commit: the request or the message handler owns the transaction, so a
change, its history row and its outbox event are written together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from shared.events import (
    Actor,
    Envelope,
    FieldChange,
    TicketCommented,
    TicketCreated,
    TicketRetriageRequested,
    TicketSnapshot,
    TicketTriaged,
    TicketTriageFailed,
    TicketUpdated,
    UserRef,
)
from shared.jwt import Principal
from shared.logging import current_correlation_id, get_logger
from shared.outbox import add_event
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import ProblemError, not_found
from shared.tracing import current_traceparent
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository
from tickets.models import DONE_STATUSES, OPEN_STATUSES, Attachment, Comment, InboundMail, Ticket, TicketChange, outbox
from tickets.schemas import (
    CategoryCount,
    CommentCreate,
    DayCount,
    DeadLetterCount,
    Durations,
    ModeratorLoad,
    OverdueRead,
    PageQuery,
    PersonRead,
    StatsQuery,
    StatsRead,
    TicketCreate,
    TicketFilters,
    TicketRead,
    TicketStaffRead,
    TicketUpdate,
    TriageQueue,
    TriageRead,
    TriageStaffRead,
)
from tickets.settings import TicketsSettings

log = get_logger(__name__)

# status -> the statuses it may move to (API.md: open→in_progress→resolved→closed,
# resolved→open, any→closed)
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"resolved", "closed"}),
    "resolved": frozenset({"closed", "open"}),
    "closed": frozenset(),
}
STAFF_FIELDS = frozenset({"status", "priority", "category"})
SYSTEM = Actor(kind="system", name="triage")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _storable(principal: Principal) -> Principal:
    """The caller with a name and email Postgres can store (text and jsonb refuse NUL)."""
    if "\x00" not in principal.name and "\x00" not in principal.email:
        return principal
    return replace(principal, name=principal.name.replace("\x00", ""), email=principal.email.replace("\x00", ""))


# --- who may do what -----------------------------------------------------------------------


def takes_part(ticket: Ticket, principal: Principal) -> bool:
    """Admins, the requester and the assigned moderator: who may comment and change the ticket."""
    return (
        principal.is_admin
        or ticket.created_by_id == principal.id
        or (principal.role == "moderator" and ticket.assigned_to_id == principal.id)
    )


def waits_for(ticket: Ticket, principal: Principal) -> bool:
    """The ticket waits for a free slot of this moderator (one who fits, all at capacity)."""
    return (
        principal.role == "moderator"
        and ticket.triage_state == "waiting"
        and principal.id in (ticket.waiting_for or ())
    )


def can_see(ticket: Ticket, principal: Principal) -> bool:
    """Who takes part, and the moderators a waiting ticket waits for (`repository.visible_to`)."""
    return takes_part(ticket, principal) or waits_for(ticket, principal)


def is_staff_for(ticket: Ticket, principal: Principal) -> bool:
    """Admins and the assigned moderator work the ticket; anyone else is its requester."""
    return principal.is_admin or (principal.role == "moderator" and ticket.assigned_to_id == principal.id)


async def _visible_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Ticket:
    ticket = await repository.get_ticket(session, ticket_id, for_update=for_update)
    if ticket is None or not can_see(ticket, principal):
        raise not_found("ticket")
    return ticket


# --- presentation --------------------------------------------------------------------------


def _person(person_id: uuid.UUID | None, name: str | None, email: str | None) -> PersonRead | None:
    if person_id is None:
        return None
    return PersonRead(id=person_id, name=name or "", email=email or "")


def present(ticket: Ticket, principal: Principal) -> TicketRead | TicketStaffRead:
    """The ticket as this caller may see it: staff get triage internals, requesters do not."""
    common: dict[str, Any] = {
        "id": ticket.id,
        "title": ticket.title,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "created_by": _person(ticket.created_by_id, ticket.created_by_name, ticket.created_by_email),
        "assigned_to": _person(ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email),
        "due_at": ticket.due_at,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }
    # a moderator it waits for reads what its assignee will (it is theirs at their next free slot)
    if not (is_staff_for(ticket, principal) or waits_for(ticket, principal)):
        return TicketRead(**common, triage=TriageRead(state=ticket.triage_state))
    return TicketStaffRead(
        **common,
        related_skills=list(ticket.related_skills or []),
        helpful_notes=ticket.helpful_notes,
        triage=TriageStaffRead(
            state=ticket.triage_state,
            summary=ticket.triage_summary,
            provider=ticket.triage_provider,
            model=ticket.triage_model,
            confidence=ticket.triage_confidence,
            assignment_reason=ticket.assignment_reason,
            triaged_at=ticket.triaged_at,
            waiting_for=list(ticket.waiting_for or []),
        ),
    )


def _ref(person_id: uuid.UUID | None, name: str | None, email: str | None) -> UserRef | None:
    if person_id is None:
        return None
    return UserRef(id=person_id, name=name or "", email=email or "")


def snapshot(ticket: Ticket) -> TicketSnapshot:
    """The ticket as events carry it."""
    created_by = _ref(ticket.created_by_id, ticket.created_by_name, ticket.created_by_email)
    assert created_by is not None
    return TicketSnapshot(
        id=ticket.id,
        title=ticket.title,
        description=ticket.description,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        related_skills=list(ticket.related_skills or []),
        helpful_notes=ticket.helpful_notes,
        created_by=created_by,
        assigned_to=_ref(ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email),
        due_at=ticket.due_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        triage_state=ticket.triage_state,
        triage_attempt=ticket.triage_attempt,
        assignment_reason=ticket.assignment_reason,
        incident_id=ticket.incident_id,
    )


def _assignee_value(ticket: Ticket) -> dict[str, str] | None:
    if ticket.assigned_to_id is None:
        return None
    return {
        "id": str(ticket.assigned_to_id),
        "name": ticket.assigned_to_name or "",
        "email": ticket.assigned_to_email or "",
    }


# --- recording a change --------------------------------------------------------------------


async def _record_change(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: Actor,
    changes: dict[str, FieldChange],
    now: datetime,
) -> None:
    """Bump the version, write the history row and the ticket.updated event."""
    ticket.version += 1
    ticket.updated_at = now
    session.add(
        TicketChange(
            ticket_id=ticket.id,
            version=ticket.version,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_role=actor.role,
            changes={name: change.model_dump(mode="json") for name, change in changes.items()},
            created_at=now,
        )
    )
    await session.flush()
    await add_event(
        session,
        outbox,
        TicketUpdated(ticket=snapshot(ticket), version=ticket.version, actor=actor, changes=changes),
    )


def _actor(principal: Principal) -> Actor:
    return Actor(kind="user", id=principal.id, role=principal.role, name=principal.name or None)


# What this process last wrote to `people`, so a caller's every write does not rewrite them.
# Rows are never deleted, so a remembered tuple can only be stale by being older (then rewritten).
_written_people: OrderedDict[uuid.UUID, tuple[str, str, str]] = OrderedDict()
_WRITTEN_PEOPLE_MAX = 10_000


async def _remember_caller(session: AsyncSession, principal: Principal, *, force: bool = False) -> None:
    known = (principal.name, principal.email, principal.role)
    if not force and _written_people.get(principal.id) == known:
        _written_people.move_to_end(principal.id)
        return
    await repository.remember_person(
        session,
        person_id=principal.id,
        name=principal.name,
        email=principal.email,
        role=principal.role,
    )
    _note_written(principal.id, known)


def _note_written(person_id: uuid.UUID, known: tuple[str, str, str]) -> None:
    # exact only once the transaction commits; a rollback merely costs one missed upsert,
    # which the next write by a changed token or a forced one repairs
    _written_people[person_id] = known
    while len(_written_people) > _WRITTEN_PEOPLE_MAX:
        _written_people.popitem(last=False)


# --- tickets -------------------------------------------------------------------------------


def _quota_refused(settings: TicketsSettings, nth: datetime | None, now: datetime) -> ProblemError:
    window = timedelta(seconds=settings.create_quota_window_seconds)
    retry_after = 1 if nth is None else max(1, math.ceil((nth + window - now).total_seconds()))
    return ProblemError(
        429,
        f"At most {settings.create_quota} tickets per {settings.create_quota_window_seconds} s; try again later.",
        headers={"Retry-After": str(retry_after)},
    )


def request_hash(ticket_in: TicketCreate) -> str:
    """What a retry must repeat for its Idempotency-Key to count: the fields as stored."""
    raw = json.dumps([ticket_in.title, ticket_in.description], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


async def _earlier_ticket(
    session: AsyncSession, *, creator_id: uuid.UUID, key: str, ticket_in: TicketCreate
) -> Ticket | None:
    """The ticket this creator already made with `key`; 422 when it was made from other text."""
    earlier = await repository.ticket_by_idempotency_key(session, creator_id=creator_id, key=key)
    if earlier is not None and earlier.request_hash != request_hash(ticket_in):
        raise ProblemError(
            422,
            "This Idempotency-Key was already used for a different ticket; use a new key for a new ticket.",
            title="Idempotency-Key reused",
        )
    return earlier


async def create_ticket(
    *,
    session: AsyncSession,
    settings: TicketsSettings,
    ticket_in: TicketCreate,
    creator: Principal,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """A new open ticket awaiting triage, with its ticket.created event in the outbox; 429 over quota.

    With an `idempotency_key`, a repeat of the creator's request (a retry after a timeout or a
    502) returns the ticket the first one made, flagged as replayed, instead of a second one;
    the same key with a different title or description is refused (422).
    """
    if idempotency_key is not None:
        earlier = await _earlier_ticket(session, creator_id=creator.id, key=idempotency_key, ticket_in=ticket_in)
        if earlier is not None:
            return earlier, True
    now = now or utcnow()
    creator = _storable(creator)
    # the ticket row itself records who created it and when; history starts at version 2
    ticket = Ticket(
        id=uuid.uuid4(),
        title=ticket_in.title,
        description=ticket_in.description,
        status="open",
        related_skills=[],
        created_by_id=creator.id,
        created_by_name=creator.name,
        created_by_email=creator.email,
        created_at=now,
        updated_at=now,
        version=1,
        triage_state="pending",
        triage_attempt=1,
        triage_applied_attempt=0,
        idempotency_key=idempotency_key,
        request_hash=request_hash(ticket_in) if idempotency_key is not None else None,
    )
    known = (creator.name, creator.email, creator.role)
    remember = _written_people.get(creator.id) != known
    event = Envelope.wrap(
        TicketCreated(ticket=snapshot(ticket), version=1),
        correlation_id=current_correlation_id(),
        traceparent=current_traceparent(),
    )
    created = await repository.insert_ticket(
        session,
        ticket,
        creator_role=creator.role,
        remember_creator=remember,
        event=event,
        quota=settings.create_quota,
        window_start=now - timedelta(seconds=settings.create_quota_window_seconds),
    )
    if not created:
        # nothing inserted: the quota, or a concurrent request with the same key committed first
        if idempotency_key is not None:
            earlier = await _earlier_ticket(session, creator_id=creator.id, key=idempotency_key, ticket_in=ticket_in)
            if earlier is not None:
                return earlier, True
        nth = await repository.nth_latest_creation(session, creator_id=creator.id, n=settings.create_quota)
        raise _quota_refused(settings, nth, now)
    if remember:
        _note_written(creator.id, known)
    return ticket, False


async def get_ticket(*, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise."""
    return await _visible_ticket(session, ticket_id, principal)


async def list_tickets(
    *, session: AsyncSession, principal: Principal, filters: TicketFilters, now: datetime | None = None
) -> tuple[list[Ticket], str | None]:
    """One page of the tickets the caller may see, newest first, and the cursor of the next."""
    assigned_to = principal.id if filters.assigned_to == "me" else filters.assigned_to
    waiting_for = principal.id if filters.waiting_for == "me" else filters.waiting_for
    query = repository.TicketQuery(
        viewer_id=principal.id,
        viewer_role=principal.role,
        status=filters.status,
        priority=filters.priority,
        category=filters.category,
        assigned_to=assigned_to,
        waiting_for=waiting_for,
        overdue=bool(filters.overdue),
        q=filters.q,
        after=decode_cursor(filters.cursor) if filters.cursor else None,
        limit=filters.limit,
    )
    rows = await repository.list_tickets(session, query, now=now or utcnow())
    if len(rows) <= filters.limit:
        return rows, None
    rows = rows[: filters.limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id)


async def update_ticket(
    *,
    session: AsyncSession,
    settings: TicketsSettings,
    ticket_id: uuid.UUID,
    update: TicketUpdate,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """Apply a caller's change: 404 unseen, 403 forbidden field, 409 refused move; no-op is free."""
    now = now or utcnow()
    principal = _storable(principal)
    ticket = await _visible_ticket(session, ticket_id, principal, for_update=True)
    sent = update.sent()
    if sent and not takes_part(ticket, principal):
        raise ProblemError(403, "This ticket waits for a free slot; it is yours to change once it is assigned to you.")
    staff = is_staff_for(ticket, principal)
    allowed = set(STAFF_FIELDS) if staff else {"status"}
    if principal.is_admin:
        allowed.add("assigned_to")
    forbidden = sorted(set(sent) - allowed)
    if forbidden:
        raise ProblemError(403, f"You may not change {', '.join(forbidden)} of this ticket.")

    changes: dict[str, FieldChange] = {}
    status = sent.get("status")
    if status is not None and status != ticket.status:
        if status not in ALLOWED_MOVES[ticket.status]:
            raise ProblemError(409, f"A ticket cannot move from {ticket.status} to {status}.")
        reopening = ticket.status == "resolved" and status == "open"
        if not staff and not (status == "closed" or reopening):
            raise ProblemError(403, "As the requester you may only close the ticket or reopen it.")
        changes["status"] = FieldChange(old=ticket.status, new=status)
        if ticket.status in OPEN_STATUSES and status in DONE_STATUSES:
            ticket.resolved_at = now
        elif status in OPEN_STATUSES:
            ticket.resolved_at = None
        ticket.status = str(status)

    priority = sent.get("priority")
    if priority is not None and priority != ticket.priority:
        changes["priority"] = FieldChange(old=ticket.priority, new=priority)
        ticket.priority = str(priority)
        _set_due(ticket, settings, changes)

    category = sent.get("category")
    if category is not None and category != ticket.category:
        changes["category"] = FieldChange(old=ticket.category, new=category)
        ticket.category = str(category)

    assignee_id = sent.get("assigned_to")
    if assignee_id is not None and assignee_id != ticket.assigned_to_id:
        assert isinstance(assignee_id, uuid.UUID)
        person = await repository.get_person(session, assignee_id)
        if person is None and assignee_id == principal.id:
            await _remember_caller(session, principal, force=True)
            person = await repository.get_person(session, assignee_id)
        if person is None:
            raise _invalid("assigned_to", "unknown user")
        if person.role not in ("moderator", "admin"):
            raise _invalid("assigned_to", "not a moderator or admin")
        old = _assignee_value(ticket)
        ticket.assigned_to_id = person.id
        ticket.assigned_to_name = person.name
        ticket.assigned_to_email = person.email
        changes["assigned_to"] = FieldChange(old=old, new=_assignee_value(ticket))

    ended = "assigned_to" in changes or ("status" in changes and ticket.status not in OPEN_STATUSES)
    if ticket.triage_state == "waiting" and ended:
        # a person assigned, resolved or closed it: it waits no more (as triage's copy stops waiting),
        # and a late assignment of the attempt it waited in is stale
        _set_field(ticket, "triage_state", "done", changes)
        _stop_waiting(ticket)

    if not changes:
        return ticket
    await _remember_caller(session, principal)
    await _record_change(session, ticket, actor=_actor(principal), changes=changes, now=now)
    return ticket


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422, f"{field}: {message}", errors=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


def _set_due(ticket: Ticket, settings: TicketsSettings, changes: dict[str, FieldChange]) -> None:
    """SLA deadline: creation time plus the priority's allowance."""
    sla = settings.sla(ticket.priority)
    due = ticket.created_at + sla if sla is not None else None
    if due != ticket.due_at:
        changes["due_at"] = FieldChange(
            old=ticket.due_at.isoformat() if ticket.due_at else None,
            new=due.isoformat() if due else None,
        )
        ticket.due_at = due


async def request_retriage(
    *, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, now: datetime | None = None
) -> Ticket:
    """Ask triage for a new attempt; results of earlier attempts are stale from now on."""
    now = now or utcnow()
    principal = _storable(principal)
    ticket = await _visible_ticket(session, ticket_id, principal, for_update=True)
    old_state = ticket.triage_state
    ticket.triage_attempt = max(ticket.triage_attempt, ticket.triage_applied_attempt) + 1
    ticket.triage_state = "pending"
    _stop_waiting(ticket)
    ticket.version += 1
    ticket.updated_at = now
    session.add(
        TicketChange(
            ticket_id=ticket.id,
            version=ticket.version,
            actor_kind="user",
            actor_id=principal.id,
            actor_role=principal.role,
            changes={
                "triage_state": {"old": old_state, "new": "pending"},
                "triage_attempt": {"old": ticket.triage_attempt - 1, "new": ticket.triage_attempt},
            },
            created_at=now,
        )
    )
    await _remember_caller(session, principal)
    await session.flush()
    await add_event(
        session,
        outbox,
        TicketRetriageRequested(
            ticket=snapshot(ticket),
            version=ticket.version,
            attempt=ticket.triage_attempt,
            requested_by=principal.id,
        ),
    )
    return ticket


# --- comments ------------------------------------------------------------------------------


async def _check_comment_quota(
    session: AsyncSession, *, settings: TicketsSettings, author_id: uuid.UUID, now: datetime
) -> None:
    """429 with Retry-After when the author already wrote `comment_quota` comments in the window."""
    quota = settings.comment_quota
    if quota == 0:
        return
    window = timedelta(seconds=settings.comment_quota_window_seconds)
    await repository.lock_comment_quota(session, author_id=author_id)
    recent = await repository.recent_comment_times(session, author_id=author_id, since=now - window, limit=quota)
    if len(recent) >= quota:
        retry_after = max(1, math.ceil((recent[-1] + window - now).total_seconds()))
        raise ProblemError(
            429,
            f"At most {quota} comments per {settings.comment_quota_window_seconds} s; try again later.",
            headers={"Retry-After": str(retry_after)},
        )


async def add_comment(
    *,
    session: AsyncSession,
    settings: TicketsSettings,
    ticket_id: uuid.UUID,
    comment_in: CommentCreate,
    principal: Principal,
    now: datetime | None = None,
    via: Literal["web", "email"] = "web",
) -> Comment:
    """A comment by the creator, the assignee or an admin; internal ones by staff only; 429 over quota.

    A public one goes out as ticket.commented, so the other side is mailed.
    """
    principal = _storable(principal)
    ticket = await _visible_ticket(session, ticket_id, principal)
    if not takes_part(ticket, principal):
        raise ProblemError(403, "This ticket waits for a free slot; you may comment once it is assigned to you.")
    if comment_in.internal and not is_staff_for(ticket, principal):
        raise ProblemError(403, "Only staff working this ticket may write internal comments.")
    now = now or utcnow()
    await _check_comment_quota(session, settings=settings, author_id=principal.id, now=now)
    comment = Comment(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        author_id=principal.id,
        author_name=principal.name,
        author_email=principal.email,
        author_role=principal.role,
        body=comment_in.body,
        internal=comment_in.internal,
        created_at=now,
    )
    await _remember_caller(session, principal)
    session.add(comment)
    await session.flush()
    if not comment.internal:
        await add_event(
            session,
            outbox,
            TicketCommented(
                ticket=snapshot(ticket),
                comment_id=comment.id,
                author=_actor(principal),
                body=comment.body,
                via=via,
            ),
        )
    return comment


async def list_comments(
    *, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, page: PageQuery
) -> tuple[list[Comment], str | None]:
    """One page of the comments the caller may read, oldest first."""
    ticket = await _visible_ticket(session, ticket_id, principal)
    rows = await repository.list_comments(
        session,
        ticket_id=ticket.id,
        include_internal=is_staff_for(ticket, principal),
        after=decode_cursor(page.cursor) if page.cursor else None,
        limit=page.limit,
    )
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id)


# --- triage results ------------------------------------------------------------------------


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


def _set_assignee(ticket: Ticket, person_id: uuid.UUID, name: str, email: str, changes: dict[str, FieldChange]) -> None:
    if (ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email) == (person_id, name, email):
        return
    old = _assignee_value(ticket)
    ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email = person_id, name, email
    if old is None or old["id"] != str(person_id):
        changes["assigned_to"] = FieldChange(old=old, new=_assignee_value(ticket))


def _set_field(ticket: Ticket, name: str, value: Any, changes: dict[str, FieldChange]) -> None:
    old = getattr(ticket, name)
    if old != value:
        changes[name] = FieldChange(old=old, new=value)
        setattr(ticket, name, value)


def _stop_waiting(ticket: Ticket) -> None:
    ticket.waiting_for = None


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
    changes: dict[str, FieldChange] = {}
    _set_field(ticket, "category", event.category.strip()[:64] or None, changes)
    _set_field(ticket, "priority", event.priority, changes)
    _set_due(ticket, settings, changes)
    _set_field(ticket, "related_skills", list(event.related_skills), changes)
    assignee = event.assignee
    # part of an incident with an owner: worked through the incident (tickets.incidents), nobody waits
    grouped = assignee is None and event.incident is not None and event.incident.owner is not None
    if assignee is None and ticket.triage_state == "waiting":
        return False  # a repeat of the waiting result: nothing new
    _set_field(ticket, "triage_state", "done" if assignee or grouped else "waiting", changes)
    if assignee is not None:
        person = await repository.person_for_assignment(
            session, person_id=assignee.id, name=assignee.name, email=assignee.email, role=assignee.role
        )
        _set_assignee(ticket, person.id, person.name, person.email, changes)
        _stop_waiting(ticket)
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
    await _record_change(session, ticket, actor=SYSTEM, changes=changes, now=now)
    return True


async def apply_triage_failed(*, session: AsyncSession, event: TicketTriageFailed, now: datetime | None = None) -> bool:
    """Mark triage failed, hand the ticket to the fallback admin, keep the reason for staff."""
    now = now or utcnow()
    ticket = await _ticket_for_triage(session, event.ticket_id, event.attempt)
    if ticket is None:
        return False
    changes: dict[str, FieldChange] = {}
    _set_field(ticket, "triage_state", "failed", changes)
    _stop_waiting(ticket)
    fallback = event.fallback_assignee
    if fallback is not None:
        person = await repository.person_for_assignment(
            session, person_id=fallback.id, name=fallback.name, email=fallback.email, role=fallback.role
        )
        _set_assignee(ticket, person.id, person.name, person.email, changes)
    ticket.assignment_reason = event.reason
    _mark_applied(ticket, event.attempt, changes)
    await _record_change(session, ticket, actor=SYSTEM, changes=changes, now=now)
    return True


# --- inbound mail and attachments (HTTP) ---------------------------------------------------


async def list_inbound_mail(
    *, session: AsyncSession, outcome: str | None, cursor: str | None, limit: int
) -> tuple[list[InboundMail], str | None]:
    """Received mails, newest first (admins: what mail did, and what it could not)."""
    rows = await repository.list_inbound(
        session, outcome=outcome, after=decode_cursor(cursor) if cursor else None, limit=limit
    )
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].received_at, rows[-1].id)


async def get_inbound_mail(*, session: AsyncSession, mail_id: uuid.UUID) -> InboundMail:
    mail = await repository.get_inbound(session, mail_id)
    if mail is None:
        raise not_found("mail")
    return mail


async def list_attachments(*, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal) -> list[Attachment]:
    """The files that came with the ticket's mails, if the caller may see the ticket."""
    ticket = await _visible_ticket(session, ticket_id, principal)
    return await repository.list_attachments(session, ticket.id)


async def get_attachment(
    *, session: AsyncSession, ticket_id: uuid.UUID, attachment_id: uuid.UUID, principal: Principal
) -> Attachment:
    ticket = await _visible_ticket(session, ticket_id, principal)
    attachment = await repository.get_attachment(session, ticket.id, attachment_id)
    if attachment is None:
        raise not_found("attachment")
    return attachment


# --- statistics ------------------------------------------------------------------------------

PRIORITY_KEYS = ("high", "medium", "low", "none")


async def ticket_stats(
    *, session: AsyncSession, principal: Principal, query: StatsQuery, now: datetime | None = None
) -> StatsRead:
    """Figures for the dashboard: every ticket for admins, the caller's assigned ones for moderators."""
    if principal.role not in ("admin", "moderator"):
        raise ProblemError(403, "Your role may not use this route.")
    now = now or utcnow()
    first, last = query.days(now.date())
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    scope = repository.StatsScope(assigned_to=None if principal.is_admin else principal.id)

    per_day, cells = await repository.range_counts(session, scope, start=start, end=end)
    durations = await repository.range_durations(session, scope, start=start, end=end)
    work = await repository.open_work(session, scope, now=now)
    unfinished = await repository.unfinished_triage(session, scope)

    by_status = dict.fromkeys(("open", "in_progress", "resolved", "closed"), 0)
    by_priority = dict.fromkeys(PRIORITY_KEYS, 0)
    by_category: dict[str | None, int] = {}
    for cell in cells:
        by_status[cell.status] = by_status.get(cell.status, 0) + cell.count
        by_priority[cell.priority or "none"] += cell.count
        by_category[cell.category] = by_category.get(cell.category, 0) + cell.count

    open_now = dict.fromkeys(OPEN_STATUSES, 0)
    overdue = dict.fromkeys(PRIORITY_KEYS, 0)
    load: dict[uuid.UUID, dict[str, int]] = {}
    for row in work:
        open_now[row.status] += row.count
        overdue[row.priority or "none"] += row.overdue
        if row.assigned_to_id is not None:
            figures = load.setdefault(row.assigned_to_id, {"open": 0, "in_progress": 0, "overdue": 0})
            figures[row.status] += row.count
            figures["overdue"] += row.overdue
    people = await repository.people_by_id(session, list(load))

    def _who(person_id: uuid.UUID) -> tuple[str | None, str | None]:
        person = people.get(person_id)
        return (person.name, person.email) if person else (None, None)

    loads = [ModeratorLoad(id=pid, name=_who(pid)[0], email=_who(pid)[1], **figures) for pid, figures in load.items()]
    loads.sort(key=lambda m: (-(m.open + m.in_progress), m.name or m.email or ""))

    days = (last - first).days + 1
    return StatsRead(
        scope="all" if principal.is_admin else "assigned_to_me",
        start=first,
        end=last,
        generated_at=now,
        created=sum(per_day.values()),
        per_day=[
            DayCount(day=day, count=per_day.get(day.isoformat(), 0))
            for day in (first + timedelta(days=i) for i in range(days))
        ],
        by_status=by_status,
        by_priority=by_priority,
        by_category=[
            CategoryCount(category=category, count=count)
            for category, count in sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0] or ""))
        ],
        time_to_triage=Durations(
            count=durations.triaged, p50_seconds=durations.triage_p50, p90_seconds=durations.triage_p90
        ),
        time_to_resolve=Durations(
            count=durations.resolved, p50_seconds=durations.resolve_p50, p90_seconds=durations.resolve_p90
        ),
        open=open_now,
        overdue=OverdueRead(total=sum(overdue.values()), by_priority=overdue),
        load=loads,
        triage=TriageQueue(
            pending=unfinished.get("pending", (0, None))[0],
            waiting=unfinished.get("waiting", (0, None))[0],
            failed=unfinished.get("failed", (0, None))[0],
            oldest_waiting_at=unfinished.get("waiting", (0, None))[1],
        ),
        dead_letters=(
            DeadLetterCount(open=await repository.open_dead_letters(session)) if principal.is_admin else None
        ),
    )
