"""Every query of the tickets service."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.events import Envelope
from shared.outbox import NOTIFY_CHANNEL
from sqlalchemy import ColumnElement, false, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from tickets.models import OPEN_STATUSES, Attachment, Comment, InboundMail, Person, Ticket

_WORD = re.compile(r"\w+")
MAX_SEARCH_WORDS = 16


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    """The ticket with this id (row-locked for the transaction when `for_update`)."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def remember_person(session: AsyncSession, *, person_id: uuid.UUID, name: str, email: str, role: str) -> None:
    """Insert or refresh what we know of someone (writes nothing when it is unchanged)."""
    stmt = insert(Person).values(id=person_id, name=name, email=email, role=role)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Person.id],
        set_={
            "name": stmt.excluded.name,
            "email": stmt.excluded.email,
            "role": stmt.excluded.role,
            "updated_at": func.now(),
        },
        where=tuple_(Person.name, Person.email, Person.role).is_distinct_from(
            tuple_(stmt.excluded.name, stmt.excluded.email, stmt.excluded.role)
        ),
    )
    await session.execute(stmt)


async def person_for_assignment(
    session: AsyncSession, *, person_id: uuid.UUID, name: str, email: str, role: str
) -> Person:
    """Whom a triage result assigns, as we know them; the result's copy only for someone unknown.

    People are updated only from auth's `user.*` events (and the signed tokens of callers): a
    `ticket.triaged` must not change where a moderator's mail goes.
    """
    stmt = insert(Person).values(id=person_id, name=name, email=email, role=role)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[Person.id]))
    return (await session.execute(select(Person).where(Person.id == person_id))).scalar_one()


async def ticket_by_idempotency_key(session: AsyncSession, *, creator_id: uuid.UUID, key: str) -> Ticket | None:
    """The ticket this creator made with this Idempotency-Key, if any."""
    return (
        await session.execute(
            select(Ticket).where(Ticket.created_by_id == creator_id, Ticket.idempotency_key == key)
        )
    ).scalar_one_or_none()


COMMENT_LOCK_SPACE = 0x636D  # "cm": advisory locks of one author's comment quota


async def lock_comment_quota(session: AsyncSession, *, author_id: uuid.UUID) -> None:
    """Serialise one author's comments (to the end of the transaction), so a burst cannot overshoot."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), hashtext(CAST(:author AS text)))"),
        {"space": COMMENT_LOCK_SPACE, "author": str(author_id)},
    )


async def recent_comment_times(
    session: AsyncSession, *, author_id: uuid.UUID, since: datetime, limit: int
) -> list[datetime]:
    """When this author wrote their latest comments after `since`, newest first, at most `limit`."""
    rows = await session.execute(
        select(Comment.created_at)
        .where(Comment.author_id == author_id, Comment.created_at > since)
        .order_by(Comment.created_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def nth_latest_creation(session: AsyncSession, *, creator_id: uuid.UUID, n: int) -> datetime | None:
    """When this user created their n-th most recent ticket (None if they made fewer)."""
    return (
        await session.execute(
            select(Ticket.created_at)
            .where(Ticket.created_by_id == creator_id)
            .order_by(Ticket.created_at.desc())
            .offset(n - 1)
            .limit(1)
        )
    ).scalar_one_or_none()


# Creating a ticket is the hot path: the quota check, the caller's row in `people`, the ticket,
# its ticket.created outbox row and the relay's wake-up go to Postgres as one statement (one
# round trip instead of six). The outbox row is exactly what shared.outbox.add_event writes.
_CREATE = text(
    """
    WITH recent AS (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM tickets.tickets
            WHERE created_by_id = CAST(:creator_id AS uuid)
              AND created_at > CAST(:window_start AS timestamptz)
            LIMIT CAST(:quota AS integer)
        ) AS r
    ), ticket AS (
        INSERT INTO tickets.tickets (id, title, description, created_by_id, created_by_name,
                                     created_by_email, created_at, updated_at, idempotency_key,
                                     request_hash)
        SELECT CAST(:id AS uuid), CAST(:title AS text), CAST(:description AS text),
               CAST(:creator_id AS uuid), CAST(:creator_name AS text), CAST(:creator_email AS text),
               CAST(:created_at AS timestamptz), CAST(:created_at AS timestamptz),
               CAST(:idempotency_key AS text), CAST(:request_hash AS text)
        WHERE CAST(:quota AS integer) = 0 OR (SELECT n FROM recent) < CAST(:quota AS integer)
        -- a concurrent request with the same key got there first: no second ticket
        ON CONFLICT (created_by_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
    ), person AS (
        -- only with a new ticket: a refused request (quota, a key already used) writes nothing
        INSERT INTO tickets.people (id, name, email, role)
        SELECT CAST(:creator_id AS uuid), CAST(:creator_name AS text),
               CAST(:creator_email AS text), CAST(:creator_role AS text)
        FROM ticket WHERE CAST(:remember AS boolean)
        ON CONFLICT (id) DO UPDATE
            SET name = excluded.name, email = excluded.email, role = excluded.role, updated_at = now()
            WHERE (people.name, people.email, people.role)
                IS DISTINCT FROM (excluded.name, excluded.email, excluded.role)
    ), event AS (
        INSERT INTO tickets.outbox (id, routing_key, envelope)
        SELECT CAST(:event_id AS uuid), CAST(:routing_key AS text), CAST(:envelope AS jsonb) FROM ticket
        RETURNING id
    )
    SELECT (SELECT count(*) FROM event) AS created,
           (SELECT pg_notify(CAST(:channel AS text), 'tickets') FROM ticket) AS notified
    """
)


async def insert_ticket(
    session: AsyncSession,
    ticket: Ticket,
    *,
    creator_role: str,
    remember_creator: bool,
    event: Envelope,
    quota: int,
    window_start: datetime,
) -> bool:
    """Insert a new ticket with its event; False when the creator's quota is used up or a ticket
    with the same idempotency key exists (a concurrent retry committed first)."""
    row = (
        await session.execute(
            _CREATE,
            {
                "id": ticket.id,
                "title": ticket.title,
                "description": ticket.description,
                "creator_id": ticket.created_by_id,
                "creator_name": ticket.created_by_name,
                "creator_email": ticket.created_by_email,
                "creator_role": creator_role,
                "remember": remember_creator,
                "created_at": ticket.created_at,
                "window_start": window_start,
                "quota": quota,
                "idempotency_key": ticket.idempotency_key,
                "request_hash": ticket.request_hash,
                "event_id": event.id,
                "routing_key": event.type,
                "envelope": event.model_dump_json(),
                "channel": NOTIFY_CHANNEL,
            },
        )
    ).one()
    return bool(row.created)


async def apply_user_event(
    session: AsyncSession, *, person_id: uuid.UUID, name: str, email: str, role: str, revision: int
) -> None:
    """What auth says of a user, unless a later revision of them was already applied."""
    stmt = insert(Person).values(id=person_id, name=name, email=email, role=role, revision=revision)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Person.id],
        set_={
            "name": stmt.excluded.name,
            "email": stmt.excluded.email,
            "role": stmt.excluded.role,
            "revision": stmt.excluded.revision,
            "updated_at": func.now(),
        },
        where=Person.revision <= stmt.excluded.revision,
    )
    await session.execute(stmt)


@dataclass(frozen=True)
class TicketQuery:
    """A list request, already resolved to ids: who looks, and how they narrow it."""

    viewer_id: uuid.UUID
    viewer_role: str
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assigned_to: uuid.UUID | None = None
    overdue: bool = False
    q: str | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int = 50


def visible_to(viewer_id: uuid.UUID, role: str) -> ColumnElement[bool] | None:
    """Which tickets someone may see: admins all, moderators theirs and assigned, users theirs."""
    if role == "admin":
        return None
    if role == "moderator":
        return or_(Ticket.created_by_id == viewer_id, Ticket.assigned_to_id == viewer_id)
    return Ticket.created_by_id == viewer_id


def search_condition(q: str) -> ColumnElement[bool]:
    """Every word of `q` as a prefix of a word of the title or description."""
    words = _WORD.findall(q.lower())[:MAX_SEARCH_WORDS]
    if not words:
        return false()
    # the words hold only letters, digits and "_", so quoting them makes each a plain lexeme
    query = " & ".join(f"'{word}':*" for word in words)
    return Ticket.search.op("@@")(func.to_tsquery("simple", query))


async def list_tickets(session: AsyncSession, query: TicketQuery, *, now: datetime) -> list[Ticket]:
    """One page (limit + 1 rows, to know whether more follow), newest first."""
    conditions: list[ColumnElement[bool]] = []
    visibility = visible_to(query.viewer_id, query.viewer_role)
    if query.viewer_role == "moderator" and query.assigned_to == query.viewer_id:
        visibility = None  # "assigned to me" implies it; the OR would hide the assignee index
    if visibility is not None:
        conditions.append(visibility)
    if query.status is not None:
        conditions.append(Ticket.status == query.status)
    if query.priority is not None:
        conditions.append(Ticket.priority == query.priority)
    if query.category is not None:
        conditions.append(Ticket.category == query.category)
    if query.assigned_to is not None:
        conditions.append(Ticket.assigned_to_id == query.assigned_to)
    if query.overdue:
        conditions.append(Ticket.status.in_(OPEN_STATUSES))
        conditions.append(Ticket.due_at < now)
    if query.q is not None:
        conditions.append(search_condition(query.q))
    if query.after is not None:
        conditions.append(tuple_(Ticket.created_at, Ticket.id) < tuple_(*query.after))
    stmt = select(Ticket).where(*conditions).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(query.limit + 1)
    return list((await session.execute(stmt)).scalars())


async def list_comments(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    include_internal: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Comment]:
    """One page of a ticket's comments (limit + 1 rows), oldest first."""
    stmt = select(Comment).where(Comment.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(Comment.internal.is_(False))
    if after is not None:
        stmt = stmt.where(tuple_(Comment.created_at, Comment.id) > tuple_(*after))
    stmt = stmt.order_by(Comment.created_at, Comment.id).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


# --- inbound mail --------------------------------------------------------------------------


async def claim_inbound(session: AsyncSession, mail: InboundMail) -> bool:
    """Record a received mail; False when its Message-ID was recorded before (a redelivery)."""
    values = {c.name: getattr(mail, c.key) for c in InboundMail.__table__.columns}
    statement = (
        insert(InboundMail)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(InboundMail.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def set_inbound_outcome(
    session: AsyncSession, mail_id: uuid.UUID, *, outcome: str, reason: str | None, ticket_id: uuid.UUID | None
) -> None:
    row = await session.get(InboundMail, mail_id)
    if row is not None:
        row.outcome, row.reason, row.ticket_id = outcome, reason, ticket_id


async def recent_mails_from(session: AsyncSession, sender: str, since: datetime) -> int:
    """How many mails of this sender opened or touched a ticket since `since` (the rate limit)."""
    statement = select(func.count()).where(
        InboundMail.sender == sender,
        InboundMail.received_at >= since,
        InboundMail.outcome.in_(("ticket", "comment")),
    )
    return int((await session.execute(statement)).scalar_one())


async def list_inbound(
    session: AsyncSession, *, outcome: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[InboundMail]:
    statement = select(InboundMail).order_by(InboundMail.received_at.desc(), InboundMail.id.desc()).limit(limit + 1)
    if outcome is not None:
        statement = statement.where(InboundMail.outcome == outcome)
    if after is not None:
        statement = statement.where(tuple_(InboundMail.received_at, InboundMail.id) < tuple_(*after))
    return list((await session.execute(statement)).scalars())


async def get_inbound(session: AsyncSession, mail_id: uuid.UUID) -> InboundMail | None:
    return await session.get(InboundMail, mail_id)


async def list_attachments(session: AsyncSession, ticket_id: uuid.UUID) -> list[Attachment]:
    statement = (
        select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.created_at, Attachment.id)
    )
    return list((await session.execute(statement)).scalars())


async def get_attachment(session: AsyncSession, ticket_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment | None:
    statement = (
        select(Attachment)
        .where(Attachment.ticket_id == ticket_id, Attachment.id == attachment_id)
        .options(undefer(Attachment.data))
    )
    return (await session.execute(statement)).scalar_one_or_none()
