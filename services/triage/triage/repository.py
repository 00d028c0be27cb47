"""Every query of the triage service."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.events import STAFF_ROLES
from sqlalchemy import Integer, bindparam, case, delete, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from triage.models import (
    Category,
    Decision,
    Example,
    ModelVersion,
    Solved,
    Staff,
    TicketCopy,
    processed_messages,
)

# --- processed messages ---------------------------------------------------------------------


async def was_processed(session: AsyncSession, *, consumer: str, message_id: uuid.UUID) -> bool:
    """True when the event was already applied (a cheap check before slow work)."""
    found = await session.scalar(
        select(literal(1)).where(
            processed_messages.c.consumer == consumer,
            processed_messages.c.message_id == message_id,
        )
    )
    return found is not None


# --- staff directory ------------------------------------------------------------------------


async def get_staff_for_update(session: AsyncSession, user_id: uuid.UUID) -> Staff | None:
    """The staff row, locked for this transaction."""
    return await session.scalar(select(Staff).where(Staff.user_id == user_id).with_for_update())


async def active_staff(session: AsyncSession) -> Sequence[Staff]:
    """Moderators and admins who may receive tickets."""
    return (await session.scalars(select(Staff).where(Staff.active.is_(True), Staff.role.in_(STAFF_ROLES)))).all()


async def take_slot(
    session: AsyncSession, *, user_id: uuid.UUID, limit: int | None, skip_locked: bool = False
) -> int | None:
    """Add one open ticket to a staff member unless they are full; None when not taken.

    A single conditional UPDATE: concurrent transactions wanting the same row queue on its
    lock and re-check `open_count < limit` on the committed value, so the last slot goes once.
    With `skip_locked`, a row another transaction holds is not waited for (None at once).
    """
    stmt = _take_slot_statement(skip_locked=skip_locked, limited=limit is not None)
    params = {"staff_id": user_id, "limit": limit}
    return (await session.execute(stmt, params)).scalar_one_or_none()


@functools.cache
def _take_slot_statement(*, skip_locked: bool, limited: bool) -> Any:
    """`take_slot`'s UPDATE, built once per variant (not rebuilt and re-keyed for every ticket)."""
    user_id = bindparam("staff_id", type_=Staff.user_id.type)
    target = Staff.user_id == user_id
    if skip_locked:
        target = Staff.user_id.in_(
            select(Staff.user_id).where(Staff.user_id == user_id).with_for_update(skip_locked=True)
        )
    stmt = (
        update(Staff)
        .where(target, Staff.active.is_(True))
        .values(open_count=Staff.open_count + 1)
        .returning(Staff.open_count)
        # what "auto" ends with anyway (the WHERE cannot be evaluated in Python), without first
        # trying and failing: loaded rows still get the new count in place
        .execution_options(synchronize_session="fetch")
    )
    if limited:
        stmt = stmt.where(Staff.open_count < func.coalesce(Staff.capacity, bindparam("limit", type_=Integer())))
    return stmt


async def add_open(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    """Count one more open ticket for a staff member, no limit (a human's choice)."""
    result = await session.execute(
        update(Staff).where(Staff.user_id == user_id).values(open_count=Staff.open_count + 1).returning(Staff.user_id)
    )
    return result.first() is not None


async def release_slot(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """One open ticket fewer (never below zero)."""
    await session.execute(
        update(Staff).where(Staff.user_id == user_id).values(open_count=func.greatest(Staff.open_count - 1, 0))
    )


# --- ticket copies --------------------------------------------------------------------------


# session.info key: the copies lock_tickets locked for this transaction, by ticket id (held here:
# the identity map keeps an unchanged object only while something else refers to it)
_LOCKED = "triage.locked"


async def lock_ticket(session: AsyncSession, values: dict[str, Any]) -> TicketCopy:
    """The ticket copy, created from `values` if absent, locked for this transaction.

    One statement: the no-op update on conflict takes the row lock, so concurrent events about
    one ticket apply one after another. A copy `lock_tickets` locked is answered from the session.
    """
    held: TicketCopy | None = session.info.get(_LOCKED, {}).get(values["ticket_id"])
    if held is not None:
        return held
    result = await session.scalars(_LOCK_TICKET, values)
    copy: TicketCopy = result.one()
    return copy


async def lock_tickets(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """`lock_ticket` for several copies in one statement (in ticket id order, so two batches that
    share tickets wait for each other instead of deadlocking); each ticket's first row counts."""
    unique = {row["ticket_id"]: row for row in reversed(rows)}
    if len(unique) < 2:
        return
    locked = session.info.setdefault(_LOCKED, {})
    query = _locking(insert(TicketCopy).values([unique[key] for key in sorted(unique)]))
    for copy in await session.scalars(query):
        locked[copy.ticket_id] = copy


def _locking(rows: Insert) -> Any:
    """`rows` of copies, each created where absent, every one locked and returned as it is stored."""
    stmt = rows.on_conflict_do_update(
        index_elements=[TicketCopy.ticket_id], set_={"ticket_id": rows.excluded.ticket_id}
    ).returning(TicketCopy)
    return select(TicketCopy).from_statement(stmt).execution_options(populate_existing=True)


# built once: `insert(...).excluded` makes a new alias (and its columns) on every call
_LOCK_TICKET = _locking(insert(TicketCopy))


async def next_waiting(session: AsyncSession, *, user_id: uuid.UUID) -> TicketCopy | None:
    """The waiting ticket this moderator fits that has waited longest (high priority first), locked.

    SKIP LOCKED: two slots freeing at once take two different waiting tickets, never one twice.
    """
    rank = case({"high": 0, "medium": 1, "low": 2}, value=TicketCopy.priority, else_=1)
    return await session.scalar(
        select(TicketCopy)
        .where(TicketCopy.state == "waiting", TicketCopy.waiting_for.contains([str(user_id)]))
        .order_by(rank, TicketCopy.waiting_since, TicketCopy.ticket_id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def waiting_decision(session: AsyncSession, *, ticket_id: uuid.UUID, attempt: int) -> Decision | None:
    """The decision that put a ticket in the waiting queue for this attempt."""
    return await session.scalar(
        select(Decision)
        .where(
            Decision.ticket_id == ticket_id,
            Decision.attempt == attempt,
            Decision.outcome == "waiting",
        )
        .order_by(Decision.created_at.desc())
        .limit(1)
    )


# --- routing history ------------------------------------------------------------------------


async def add_solved(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record routing examples (who resolved, reopened, was given or lost a ticket)."""
    if rows:
        await session.execute(insert(Solved).values(list(rows)))


async def solved_counts(
    session: AsyncSession, *, category: str, since: datetime
) -> Sequence[tuple[uuid.UUID, str, int]]:
    """(user, kind, count) of the routing examples of one category since a moment."""
    rows = await session.execute(
        select(Solved.user_id, Solved.kind, func.count())
        .where(Solved.category == category, Solved.at >= since)
        .group_by(Solved.user_id, Solved.kind)
    )
    return [(r[0], r[1], int(r[2])) for r in rows.all()]


# --- decisions ------------------------------------------------------------------------------


async def list_decisions(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Decision]:
    """Decisions newest first, optionally for one ticket, keyset-paginated."""
    stmt = select(Decision).order_by(Decision.created_at.desc(), Decision.id.desc()).limit(limit)
    if ticket_id is not None:
        stmt = stmt.where(Decision.ticket_id == ticket_id)
    if after is not None:
        stmt = stmt.where(tuple_(Decision.created_at, Decision.id) < tuple_(*after))
    return (await session.scalars(stmt)).all()


# --- categories -----------------------------------------------------------------------------


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    """The configured categories in their order."""
    return (await session.scalars(select(Category).order_by(Category.position))).all()


async def seed_categories(session: AsyncSession, defaults: Sequence[tuple[str, str]]) -> None:
    """Install the default set when none is configured (several workers may race: harmless)."""
    if await session.scalar(select(func.count()).select_from(Category)):
        return
    await session.execute(
        insert(Category)
        .values([{"name": n, "description": d, "position": i} for i, (n, d) in enumerate(defaults)])
        .on_conflict_do_nothing()
    )


async def replace_categories(session: AsyncSession, items: Sequence[tuple[str, str]]) -> None:
    """Replace the whole configured set."""
    await session.execute(delete(Category))
    await session.execute(
        insert(Category).values([{"name": n, "description": d, "position": i} for i, (n, d) in enumerate(items)])
    )


# --- examples -------------------------------------------------------------------------------


async def add_examples(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Store imported labelled examples."""
    if not rows:
        return 0
    await session.execute(insert(Example).values([{**r, "source": "import"} for r in rows]))
    return len(rows)


async def upsert_correction(session: AsyncSession, row: dict[str, Any]) -> None:
    """Store a human correction; a later correction of the same ticket replaces it."""
    stmt = insert(Example).values(**row, source="correction")
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Example.ticket_id],
            index_where=Example.source == "correction",
            set_={
                "title": stmt.excluded.title,
                "description": stmt.excluded.description,
                "category": stmt.excluded.category,
                "priority": stmt.excluded.priority,
                "skills": stmt.excluded.skills,
                "updated_at": func.now(),
            },
        )
    )


async def training_examples(session: AsyncSession, *, limit: int) -> Sequence[Example]:
    """Stored examples, newest first (corrections before imports when over the limit)."""
    return (
        await session.scalars(
            select(Example).order_by((Example.source == "correction").desc(), Example.updated_at.desc()).limit(limit)
        )
    ).all()


async def examples_mark(session: AsyncSession) -> str:
    """A fingerprint of the stored examples: changes whenever one is added or replaced."""
    count, last = (await session.execute(select(func.count(Example.id), func.max(Example.updated_at)))).one()
    return f"{count}:{last.isoformat() if last else '-'}"


# --- model versions -------------------------------------------------------------------------


async def latest_model_version(session: AsyncSession) -> int | None:
    """The newest stored model version number (cheap: polled every few seconds)."""
    return await session.scalar(select(func.max(ModelVersion.version)))


async def latest_model_meta(session: AsyncSession) -> ModelVersion | None:
    """The newest model's row without its blob."""
    return await session.scalar(
        select(ModelVersion)
        .options(defer(ModelVersion.blob, raiseload=True))
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


async def model_blob(session: AsyncSession, version: int) -> bytes | None:
    """The serialised model of one version."""
    return await session.scalar(select(ModelVersion.blob).where(ModelVersion.version == version))


async def save_model(session: AsyncSession, row: dict[str, Any]) -> None:
    """Store a trained model."""
    await session.execute(insert(ModelVersion).values(**row))
