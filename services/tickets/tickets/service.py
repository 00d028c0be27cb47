"""The rules of tickets: opening, reading, changing and re-triaging one; inbound mail, attachments.

Comments (`comments.py`), triage results (`triage_results.py`), figures (`stats.py`), what a
caller may do with a ticket (`access.py`) and how a change is recorded (`changes.py`) live beside it.

Functions here never commit: the request or the message handler owns the transaction, so a
change, its history row and its outbox event are written together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime, timedelta

from shared.events import (
    DONE_STATUSES,
    OPEN_STATUSES,
    STAFF_ROLES,
    Envelope,
    FieldChange,
    TicketCreated,
    TicketRetriageRequested,
)
from shared.jwt import Principal
from shared.logging import current_correlation_id, get_logger
from shared.pagination import decode_cursor, keyset_page
from shared.problems import ProblemError, not_found
from shared.tracing import current_traceparent
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import people, repository
from tickets.access import is_staff_for, takes_part
from tickets.changes import actor, record_change, set_assignee, set_due, set_field, snapshot, stop_waiting
from tickets.models import Attachment, InboundMail, Ticket
from tickets.schemas import TicketCreate, TicketFilters, TicketUpdate
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


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- tickets -------------------------------------------------------------------------------


async def visible_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Ticket:
    """The ticket if the caller may see it (row-locked when `for_update`); 404 otherwise."""
    ticket = await repository.get_visible_ticket(
        session, ticket_id, viewer_id=principal.id, role=principal.role, for_update=for_update
    )
    if ticket is None:
        raise not_found("ticket")
    return ticket


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
    creator = people.storable(creator)
    # the ticket row itself records who created it and when; history starts at version 2
    ticket = Ticket.new(
        id=uuid.uuid4(),
        title=ticket_in.title,
        description=ticket_in.description,
        created_by_id=creator.id,
        created_by_name=creator.name,
        created_by_email=creator.email,
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
        request_hash=request_hash(ticket_in) if idempotency_key is not None else None,
    )
    remember = people.needs_writing(session, creator)
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
        people.note_written(session, creator)
    return ticket, False


async def get_ticket(*, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise."""
    return await visible_ticket(session, ticket_id, principal)


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
    return keyset_page(rows, filters.limit)


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
    principal = people.storable(principal)
    ticket = await visible_ticket(session, ticket_id, principal, for_update=True)
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
        set_due(ticket, settings, changes)

    category = sent.get("category")
    if category is not None and category != ticket.category:
        changes["category"] = FieldChange(old=ticket.category, new=category)
        ticket.category = str(category)

    assignee_id = sent.get("assigned_to")
    if assignee_id is not None and assignee_id != ticket.assigned_to_id:
        assert isinstance(assignee_id, uuid.UUID)
        person = await repository.get_person(session, assignee_id)
        if person is None and assignee_id == principal.id:
            await people.remember_caller(session, principal, force=True)
            person = await repository.get_person(session, assignee_id)
        if person is None:
            raise _invalid("assigned_to", "unknown user")
        if person.role not in STAFF_ROLES:
            raise _invalid("assigned_to", "not a moderator or admin")
        set_assignee(ticket, person.id, person.name, person.email, changes)

    ended = "assigned_to" in changes or ("status" in changes and ticket.status not in OPEN_STATUSES)
    if ticket.triage_state == "waiting" and ended:
        # a person assigned, resolved or closed it: it waits no more (as triage's copy stops waiting),
        # and a late assignment of the attempt it waited in is stale
        set_field(ticket, "triage_state", "done", changes)
        stop_waiting(ticket)

    if not changes:
        return ticket
    await people.remember_caller(session, principal)
    await record_change(session, ticket, actor=actor(principal), changes=changes, now=now)
    return ticket


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422, f"{field}: {message}", errors=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


async def request_retriage(
    *, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, now: datetime | None = None
) -> Ticket:
    """Ask triage for a new attempt; results of earlier attempts are stale from now on."""
    now = now or utcnow()
    principal = people.storable(principal)
    ticket = await visible_ticket(session, ticket_id, principal, for_update=True)
    attempt = max(ticket.triage_attempt, ticket.triage_applied_attempt) + 1
    changes = {
        "triage_state": FieldChange(old=ticket.triage_state, new="pending"),
        "triage_attempt": FieldChange(old=attempt - 1, new=attempt),
    }
    ticket.triage_attempt = attempt
    ticket.triage_state = "pending"
    stop_waiting(ticket)
    await people.remember_caller(session, principal)
    await record_change(
        session,
        ticket,
        actor=actor(principal),
        changes=changes,
        now=now,
        event=lambda snap, version: TicketRetriageRequested(
            ticket=snap, version=version, attempt=attempt, requested_by=principal.id
        ),
    )
    return ticket


# --- inbound mail and attachments (HTTP) ---------------------------------------------------


async def list_inbound_mail(
    *, session: AsyncSession, outcome: str | None, cursor: str | None, limit: int
) -> tuple[list[InboundMail], str | None]:
    """Received mails, newest first (admins: what mail did, and what it could not)."""
    rows = await repository.list_inbound(
        session, outcome=outcome, after=decode_cursor(cursor) if cursor else None, limit=limit
    )
    return keyset_page(rows, limit, key=lambda mail: (mail.received_at, mail.id))


async def get_inbound_mail(*, session: AsyncSession, mail_id: uuid.UUID) -> InboundMail:
    mail = await repository.get_inbound(session, mail_id)
    if mail is None:
        raise not_found("mail")
    return mail


async def list_attachments(*, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal) -> list[Attachment]:
    """The files that came with the ticket's mails, if the caller may see the ticket."""
    ticket = await visible_ticket(session, ticket_id, principal)
    return await repository.list_attachments(session, ticket.id)


async def get_attachment(
    *, session: AsyncSession, ticket_id: uuid.UUID, attachment_id: uuid.UUID, principal: Principal
) -> Attachment:
    ticket = await visible_ticket(session, ticket_id, principal)
    attachment = await repository.get_attachment(session, ticket.id, attachment_id)
    if attachment is None:
        raise not_found("attachment")
    return attachment
