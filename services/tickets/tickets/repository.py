"""Every query of the tickets service."""

from __future__ import annotations

import re
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import OPEN_STATUSES, Envelope
from shared.outbox import NOTIFY_CHANNEL
from shared.pagination import fetch_limit
from shared.usercopy import apply_revision
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer
from sqlalchemy.orm.util import identity_key

from tickets.models import Attachment, Comment, InboundMail, Person, Ticket, outbox
from tickets.visible import moderator_page, reasons, waiting_for

_WORD = re.compile(r"\w+")
MAX_SEARCH_WORDS = 16


# session.info keys: the tickets this transaction holds row locks on, and the people it read, by
# id (lock_tickets, read_people). Held here, not only in the session's identity map, which keeps
# unchanged objects only while something else refers to them.
_LOCKED = "tickets.locked"
_PEOPLE = "tickets.people"


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    """The ticket with this id (row-locked for the transaction when `for_update`)."""
    held: Ticket | None = session.info.get(_LOCKED, {}).get(ticket_id)
    if held is not None:
        return held  # locked by this transaction already: the session's copy is current
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_tickets(session: AsyncSession, ticket_ids: Iterable[uuid.UUID]) -> None:
    """Read and row-lock these tickets in one statement (in id order, so two batches that share
    tickets wait for each other instead of deadlocking); `get_ticket` then answers from the
    session for the rest of the transaction."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return
    stmt = select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id).with_for_update()
    locked = session.info.setdefault(_LOCKED, {})
    for ticket in (await session.execute(stmt)).scalars():
        locked[ticket.id] = ticket


async def read_people(session: AsyncSession, person_ids: Iterable[uuid.UUID]) -> None:
    """Load these people into the session in one statement (person_for_assignment reads them)."""
    ids = set(person_ids)
    if ids:
        people = session.info.setdefault(_PEOPLE, {})
        for person in (await session.execute(select(Person).where(Person.id.in_(ids)))).scalars():
            people[person.id] = person


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
    _read_again(session, person_id)


def _read_again(session: AsyncSession, person_id: uuid.UUID) -> None:
    """A copy of this person the session holds (a batch read them first) is read again when next used."""
    held = session.identity_map.get(identity_key(Person, person_id))
    if held is not None:
        session.expire(held)


async def person_for_assignment(
    session: AsyncSession, *, person_id: uuid.UUID, name: str, email: str, role: str
) -> Person:
    """Whom a triage result assigns, as we know them; the result's copy only for someone unknown.

    People are updated only from auth's `user.*` events (and the signed tokens of callers): a
    `ticket.triaged` must not change where a moderator's mail goes.
    """
    # the session's copy (read_people), read again if a user event in this transaction expired it
    known = await session.get(Person, person_id)
    if known is not None:
        return known  # the usual case: one statement
    stmt = insert(Person).values(id=person_id, name=name, email=email, role=role)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[Person.id]))
    return (await session.execute(select(Person).where(Person.id == person_id))).scalar_one()


async def ticket_by_idempotency_key(session: AsyncSession, *, creator_id: uuid.UUID, key: str) -> Ticket | None:
    """The ticket this creator made with this Idempotency-Key, if any."""
    return (
        await session.execute(select(Ticket).where(Ticket.created_by_id == creator_id, Ticket.idempotency_key == key))
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
# round trip instead of six), built once from the model: a new column of `Ticket` is inserted
# with no change here. The outbox row is what shared.outbox.add_event writes.


def _params(table: Any, columns: list[str], prefix: str = "") -> list[ColumnElement[Any]]:
    """A bound parameter per column, cast to the column's type (Postgres cannot infer a NULL's);
    strings to text, so an over-long value fails on the column instead of being cut by the cast."""
    params: list[ColumnElement[Any]] = []
    for key in columns:
        type_ = table.c[key].type
        params.append(cast(bindparam(prefix + key), Text() if isinstance(type_, String) else type_).label(key))
    return params


def _create_statement() -> Select[Any]:
    columns = [c.key for c in Ticket.__table__.columns if c.computed is None]
    recent = (
        select(literal(1))
        .where(Ticket.created_by_id == bindparam("created_by_id"), Ticket.created_at > bindparam("window_start"))
        .limit(bindparam("quota"))
        .subquery()
    )
    quota = bindparam("quota", type_=Integer)
    under_quota = or_(quota == 0, select(func.count()).select_from(recent).scalar_subquery() < quota)
    new_ticket = (
        insert(Ticket)
        .from_select(columns, select(*_params(Ticket.__table__, columns)).where(under_quota))
        # a concurrent request with the same key got there first: no second ticket
        .on_conflict_do_nothing(
            index_elements=[Ticket.created_by_id, Ticket.idempotency_key],
            index_where=Ticket.idempotency_key.is_not(None),
        )
        .returning(Ticket.id)
        .cte("ticket")
    )
    person = insert(Person).from_select(
        ["id", "name", "email", "role"],
        # only with a new ticket: a refused request (quota, a key already used) writes nothing
        select(*_params(Person.__table__, ["id", "name", "email", "role"], prefix="person_"))
        .select_from(new_ticket)
        .where(bindparam("remember", type_=Boolean)),
    )
    person = person.on_conflict_do_update(
        index_elements=[Person.id],
        set_={"name": person.excluded.name, "email": person.excluded.email, "role": person.excluded.role}
        | {"updated_at": func.now()},
        where=tuple_(Person.name, Person.email, Person.role).is_distinct_from(
            tuple_(person.excluded.name, person.excluded.email, person.excluded.role)
        ),
    )
    new_event = (
        insert(outbox)
        .from_select(
            ["id", "routing_key", "envelope"],
            select(
                *_params(outbox, ["id", "routing_key"], prefix="event_"),
                # serialised by pydantic, as the JSON text it already is
                cast(bindparam("event_envelope", type_=Text()), JSONB).label("envelope"),
            ).select_from(new_ticket),
        )
        .returning(outbox.c.id)
        .cte("event")
    )
    notified = select(func.pg_notify(NOTIFY_CHANNEL, outbox.schema)).select_from(new_ticket).scalar_subquery()
    created = select(func.count()).select_from(new_event).scalar_subquery()
    return select(created.label("created"), notified.label("notified")).add_cte(person.cte("person"))


_CREATE = _create_statement()


@dataclass(frozen=True, slots=True)
class _Compiled:
    """`_CREATE` as one dialect's SQL text, with its parameters' order, defaults and processors."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    processors: dict[str, Any]

    @classmethod
    def of(cls, dialect: Dialect) -> _Compiled:
        compiled = _CREATE.compile(dialect=dialect)
        if compiled.positiontup is None:  # pragma: no cover - asyncpg's paramstyle is positional
            raise RuntimeError(f"{dialect.name}: a positional paramstyle is needed")
        return cls(
            sql=compiled.string,
            names=tuple(compiled.positiontup),
            defaults=dict(compiled.params),
            processors=dict(compiled._bind_processors),  # noqa: SLF001 - what execute applies
        )

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        merged = self.defaults | values
        out = []
        for name in self.names:
            value = merged[name]
            processor = self.processors.get(name)
            out.append(value if processor is None or value is None else processor(value))
        return tuple(out)


# per dialect (one per engine): compiled at the first ticket, then only its parameters are built
_COMPILED: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()


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
    params = {
        **ticket.stored_values(),
        "window_start": window_start,
        "quota": quota,
        "remember": remember_creator,
        "person_id": ticket.created_by_id,
        "person_name": ticket.created_by_name,
        "person_email": ticket.created_by_email,
        "person_role": creator_role,
        "event_id": event.id,
        "event_routing_key": event.type,
        "event_envelope": event.model_dump_json(),
    }
    # the SQL text compiled once, sent as it is: the ORM's execute (statement cache lookup, bind
    # parameter construction, ORM result set-up) was a sixth of the service's CPU per ticket.
    # The connection is the session's, so a surrounding transaction (mail-in) holds it too.
    connection = await session.connection()
    compiled = _COMPILED.get(connection.dialect)
    if compiled is None:
        compiled = _COMPILED[connection.dialect] = _Compiled.of(connection.dialect)
    result = await connection.exec_driver_sql(compiled.sql, compiled.parameters(params))
    return bool(result.one()[0])


async def apply_user_event(
    session: AsyncSession, *, person_id: uuid.UUID, name: str, email: str, role: str, revision: int
) -> None:
    """What auth says of a user, unless a later revision of them was already applied."""
    values = {"id": person_id, "name": name, "email": email, "role": role}
    await apply_revision(session, Person.__table__, values=values, revision=revision)
    _read_again(session, person_id)


@dataclass(frozen=True)
class TicketQuery:
    """A list request, already resolved to ids: who looks, and how they narrow it."""

    viewer_id: uuid.UUID
    viewer_role: str
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assigned_to: uuid.UUID | None = None
    waiting_for: uuid.UUID | None = None
    overdue: bool = False
    q: str | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int = 50


def visible_to(viewer_id: uuid.UUID, role: str) -> ColumnElement[bool] | None:
    """Which tickets someone may see: admins all (None: no condition); moderators theirs, assigned
    and waiting for them; users theirs. The one visibility rule: every caller's read applies it."""
    if role == "admin":
        return None
    if role == "moderator":
        return or_(*reasons(viewer_id))
    return Ticket.created_by_id == viewer_id


def visible_tickets(viewer_id: uuid.UUID, role: str) -> Select[Ticket]:
    """The tickets this caller may see: the statement every read on a caller's behalf starts from."""
    stmt = select(Ticket)
    visibility = visible_to(viewer_id, role)
    if visibility is not None:
        stmt = stmt.where(visibility)
    return stmt


async def get_visible_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, *, viewer_id: uuid.UUID, role: str, for_update: bool = False
) -> Ticket | None:
    """The ticket with this id if this caller may see it (row-locked when `for_update`)."""
    stmt = visible_tickets(viewer_id, role).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def search_condition(q: str) -> ColumnElement[bool]:
    """Every word of `q` as a prefix of a word of the title or description."""
    words = _WORD.findall(q.lower())[:MAX_SEARCH_WORDS]
    if not words:
        return false()
    # the words hold only letters, digits and "_", so quoting them makes each a plain lexeme
    query = " & ".join(f"'{word}':*" for word in words)
    return Ticket.search.op("@@")(func.to_tsquery("simple", query))


async def list_tickets(session: AsyncSession, query: TicketQuery, *, now: datetime) -> list[Ticket]:
    """One page (`fetch_limit` rows, to know whether more follow), newest first."""
    conditions: list[ColumnElement[bool]] = []
    stmt = visible_tickets(query.viewer_id, query.viewer_role)
    per_reason = query.viewer_role == "moderator"  # one query per reason they see a ticket, merged
    if query.viewer_role == "moderator" and query.viewer_id in (query.assigned_to, query.waiting_for):
        stmt = select(Ticket)  # "assigned to / waiting for me" implies it; the OR would hide their index
        per_reason = False
    if query.status is not None:
        conditions.append(Ticket.status == query.status)
    if query.priority is not None:
        conditions.append(Ticket.priority == query.priority)
    if query.category is not None:
        conditions.append(Ticket.category == query.category)
    if query.assigned_to is not None:
        conditions.append(Ticket.assigned_to_id == query.assigned_to)
    if query.waiting_for is not None:
        conditions.append(waiting_for(query.waiting_for))
    if query.overdue:
        conditions.append(Ticket.status.in_(OPEN_STATUSES))
        conditions.append(Ticket.due_at < now)
    if query.q is not None:
        conditions.append(search_condition(query.q))
    if query.q is not None or per_reason:
        # How many tickets a search matches varies a thousandfold with its words, and how many of
        # a moderator's tickets a filter keeps with the moderator: a cached generic plan (chosen
        # after five runs of the prepared statement) guesses one selectivity for all and at a
        # million tickets took 40-1,400 ms where the plan for the actual values takes under 1-20
        # (bench/million.py: a moderator's "closed" list). Transaction-scoped, so it also holds
        # behind PgBouncer.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    if query.after is not None:
        conditions.append(tuple_(Ticket.created_at, Ticket.id) < tuple_(*query.after))
    if per_reason:
        return list(
            (await session.execute(moderator_page(query.viewer_id, conditions, fetch_limit(query.limit)))).scalars()
        )
    stmt = stmt.where(*conditions).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(fetch_limit(query.limit))
    return list((await session.execute(stmt)).scalars())


async def list_comments(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    include_internal: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Comment]:
    """One page of a ticket's comments (`fetch_limit` rows), oldest first."""
    stmt = select(Comment).where(Comment.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(Comment.internal.is_(False))
    if after is not None:
        stmt = stmt.where(tuple_(Comment.created_at, Comment.id) > tuple_(*after))
    stmt = stmt.order_by(Comment.created_at, Comment.id).limit(fetch_limit(limit))
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
    statement = (
        select(InboundMail).order_by(InboundMail.received_at.desc(), InboundMail.id.desc()).limit(fetch_limit(limit))
    )
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
