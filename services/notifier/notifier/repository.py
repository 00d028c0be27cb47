"""Every query of the notifier."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.usercopy import apply_revision
from sqlalchemy import ARRAY, and_, any_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import UUID, Insert, insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from notifier.models import DeliveryStatus, deliveries, preferences, ticket_versions, users

PREFERENCE_KINDS = ("ticket_assigned", "ticket_resolved", "triage_failed", "welcome", "ticket_commented")


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a mail goes to."""

    email: str
    name: str
    id: uuid.UUID | None = None


# --- users ---------------------------------------------------------------------------------


async def upsert_user(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    email: str,
    name: str,
    role: str,
    active: bool,
    revision: int,
    email_verified: bool | None = None,
    opened_by_mail: bool = False,
) -> None:
    """Insert or update the local copy of a user, unless a newer revision is already stored.

    `email_verified` None (an event from before verification existed) keeps the stored state.
    """
    values: dict[str, Any] = {"id": user_id, "email": email, "name": name, "role": role, "active": active}
    if email_verified is not None:
        values["email_verified"] = email_verified
    if opened_by_mail:
        values["opened_by_mail"] = True
    overwrite = ["email", "name", "role", "active"] + (["email_verified"] if email_verified is not None else [])
    await apply_revision(session, users, values=values, revision=revision, overwrite=overwrite)
    _read_again(session, user_id)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> RowMapping | None:
    """One known user."""
    result = await session.execute(select(users).where(users.c.id == user_id))
    return result.mappings().first()


async def active_admins(session: AsyncSession) -> list[Recipient]:
    """Every active admin the notifier has heard of."""
    result = await session.execute(
        select(users.c.id, users.c.email, users.c.name)
        .where(users.c.role == "admin", users.c.active.is_(True))
        .order_by(users.c.email)
    )
    return [Recipient(id=r.id, email=r.email, name=r.name) for r in result]


# --- tickets -------------------------------------------------------------------------------


def _advancing(rows: Insert) -> Any:
    """`rows` of ticket versions, each stored only over an older one; returns the tickets it advanced."""
    return rows.on_conflict_do_update(
        index_elements=[ticket_versions.c.ticket_id],
        set_={"version": rows.excluded.version, "updated_at": func.now()},
        where=ticket_versions.c.version < rows.excluded.version,
    ).returning(ticket_versions.c.ticket_id)


# built once (one per event otherwise: construction and cache key were a tenth of the notifier's CPU)
_ADVANCE_TICKET_VERSION = _advancing(
    insert(ticket_versions).values(ticket_id=bindparam("ticket_id"), version=bindparam("version"))
)


# session.info key: (ticket id, version) -> whether advance_ticket_versions advanced it
_ADVANCED = "notifier.advanced"


async def advance_ticket_version(session: AsyncSession, *, ticket_id: uuid.UUID, version: int) -> bool:
    """Record `version` as the newest seen for the ticket; False if a newer one was seen."""
    done: dict[tuple[uuid.UUID, int], bool] = session.info.get(_ADVANCED, {})
    if (ticket_id, version) in done:
        return done.pop((ticket_id, version))
    result = await session.execute(_ADVANCE_TICKET_VERSION, {"ticket_id": ticket_id, "version": version})
    return result.first() is not None


async def advance_ticket_versions(session: AsyncSession, versions: Sequence[tuple[uuid.UUID, int]]) -> None:
    """`advance_ticket_version` for a batch's events in one statement; `advance_ticket_version`
    then answers each of them from the session. A ticket with two events in the batch is left to
    `advance_ticket_version`, event by event (the second must see the first)."""
    tickets = [ticket_id for ticket_id, _ in versions]
    once = sorted((t, v) for t, v in versions if tickets.count(t) == 1)
    if len(once) < 2:
        return
    rows = insert(ticket_versions).values([{"ticket_id": t, "version": v} for t, v in once])
    advanced = set((await session.execute(_advancing(rows))).scalars())
    session.info.setdefault(_ADVANCED, {}).update({(t, v): t in advanced for t, v in once})


# --- preferences ---------------------------------------------------------------------------


async def get_preferences(session: AsyncSession, user_id: uuid.UUID) -> dict[str, bool]:
    """A user's preferences; every kind is on unless the user turned it off."""
    result = await session.execute(
        select(*(preferences.c[k] for k in PREFERENCE_KINDS)).where(preferences.c.user_id == user_id)
    )
    row = result.mappings().first()
    if row is None:
        return dict.fromkeys(PREFERENCE_KINDS, True)
    return {k: bool(row[k]) for k in PREFERENCE_KINDS}


# what an account made from a mail is sent before it is verified: the answers about its tickets
ANSWERS_TO_MAIL = frozenset({"ticket_commented", "ticket_resolved"})


# session.info key: what read_recipients read of a batch's people, by user id (None: no row of theirs)
_RECIPIENTS = "notifier.recipients"


async def read_recipients(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> None:
    """Read, in one statement, what `suppressed` needs to know of these people; it then answers
    from the session for the rest of the transaction (a user event in it reads that user again)."""
    ids = set(user_ids)
    if not ids:
        return
    both = users.join(preferences, users.c.id == preferences.c.user_id, full=True)
    query = select(
        users.c.id.label("known"),
        users.c.active,
        users.c.email_verified,
        users.c.opened_by_mail,
        preferences.c.user_id.label("prefers"),
        *(preferences.c[kind] for kind in PREFERENCE_KINDS),
    ).select_from(both)
    rows = (await session.execute(query.where(or_(users.c.id.in_(ids), preferences.c.user_id.in_(ids))))).mappings()
    read: dict[uuid.UUID, RowMapping | None] = dict.fromkeys(ids)
    for row in rows:
        read[row["known"] or row["prefers"]] = row
    session.info.setdefault(_RECIPIENTS, {}).update(read)


def _read_again(session: AsyncSession, user_id: uuid.UUID) -> None:
    session.info.get(_RECIPIENTS, {}).pop(user_id, None)


def _is_suppressed(row: RowMapping | None, kind: str, verified_only: bool) -> bool:
    """`suppressed`'s query, for one person read by read_recipients (NULL is not false there either)."""
    if row is None:
        return False
    if row["known"] is not None:
        if row["active"] is False:
            return True
        if verified_only and row["email_verified"] is False:
            if kind not in ANSWERS_TO_MAIL or row["opened_by_mail"] is False:
                return True
    return kind in PREFERENCE_KINDS and row["prefers"] is not None and row[kind] is False


async def suppressed(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], kind: str, *, verified_only: bool = True
) -> set[uuid.UUID]:
    """The users among `user_ids` who turned `kind` off, whose account is disabled or (with
    `verified_only`) whose email is not verified (one query) — except the answers about their
    tickets (`ANSWERS_TO_MAIL`) to an account made from a mail it sent.

    A user the notifier has not heard of is not suppressed: auth announces every account when it
    makes it, so an unverified one is always known before anything could be mailed to it.
    """
    if not user_ids:
        return set()
    read = session.info.get(_RECIPIENTS, {})
    if all(user_id in read for user_id in user_ids):
        return {user_id for user_id in user_ids if _is_suppressed(read[user_id], kind, verified_only)}
    ids = list(user_ids)
    unwanted: list[ColumnElement[bool]] = [users.c.active.is_(False)]
    if verified_only:
        unverified: ColumnElement[bool] = users.c.email_verified.is_(False)
        if kind in ANSWERS_TO_MAIL:
            unverified = and_(unverified, users.c.opened_by_mail.is_(False))
        unwanted.append(unverified)
    query = select(users.c.id).where(users.c.id.in_(ids), or_(*unwanted))
    if kind in PREFERENCE_KINDS:
        opted_out = select(preferences.c.user_id).where(preferences.c.user_id.in_(ids), preferences.c[kind].is_(False))
        query = query.union(opted_out)  # type: ignore[assignment]
    result = await session.execute(query)
    return set(result.scalars())


async def put_preferences(session: AsyncSession, *, user_id: uuid.UUID, values: dict[str, bool]) -> dict[str, bool]:
    """Replace a user's preferences."""
    _read_again(session, user_id)
    stmt = insert(preferences).values(user_id=user_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[preferences.c.user_id], set_={**values, "updated_at": func.now()})
    await session.execute(stmt)
    return await get_preferences(session, user_id)


# --- deliveries ----------------------------------------------------------------------------


async def add_delivery(session: AsyncSession, **values: Any) -> bool:
    """Queue one mail; False when this (event, recipient, kind) was queued before."""
    result = await session.execute(
        insert(deliveries)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_deliveries_once")
        .returning(deliveries.c.id)
    )
    return result.first() is not None


def add_deliveries_statement(rows: Sequence[dict[str, Any]]) -> Insert:
    """Queue several mails in one statement; one already queued for its (event, recipient, kind)
    is skipped."""
    return insert(deliveries).values(list(rows)).on_conflict_do_nothing(constraint="uq_deliveries_once")


async def claim_due_delivery(session: AsyncSession, *, now: datetime) -> RowMapping | None:
    """Lock the oldest due pending mail; other workers skip it while this transaction lives."""
    result = await session.execute(
        select(deliveries)
        .where(deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return result.mappings().first()


_CLAIM_DUE = (
    select(deliveries)
    .where(deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.next_attempt_at <= bindparam("now"))
    .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)


async def claim_due_deliveries(session: AsyncSession, *, now: datetime, limit: int) -> list[RowMapping]:
    """Lock up to `limit` of the oldest due pending mails; other workers skip them meanwhile."""
    result = await session.execute(_CLAIM_DUE, {"now": now, "limit": limit})
    return list(result.mappings())


async def mark_sent(session: AsyncSession, delivery_id: uuid.UUID, *, attempts: int) -> None:
    """Record that the SMTP server accepted the mail."""
    await mark_sent_many(session, [delivery_id], attempts=attempts)


_MARK_SENT = (
    update(deliveries)
    .where(deliveries.c.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
    .values(
        status=DeliveryStatus.SENT,
        sent_at=func.now(),
        attempts=bindparam("attempts"),
        last_error=None,
        last_error_code=None,
    )
)


async def mark_sent_many(session: AsyncSession, delivery_ids: Sequence[uuid.UUID], *, attempts: int) -> None:
    """Record that the SMTP server accepted these mails (one statement)."""
    await session.execute(_MARK_SENT, {"ids": list(delivery_ids), "attempts": attempts})


async def mark_retry(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    *,
    attempts: int,
    next_attempt_at: datetime,
    error: str,
    code: int | None,
) -> None:
    """Keep the mail pending and come back to it later."""
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error[:2000],
            last_error_code=code,
        )
    )


async def mark_failed(
    session: AsyncSession, delivery_id: uuid.UUID, *, attempts: int, error: str, code: int | None
) -> None:
    """Give up on a mail; it shows in the failures list."""
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=DeliveryStatus.FAILED,
            failed_at=func.now(),
            attempts=attempts,
            last_error=error[:2000],
            last_error_code=code,
        )
    )


async def list_failures(
    session: AsyncSession, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[RowMapping]:
    """Failed mails, newest failure first (keyset pagination on (failed_at, id))."""
    stmt = select(deliveries).where(deliveries.c.status == DeliveryStatus.FAILED)
    if after is not None:
        stmt = stmt.where(tuple_(deliveries.c.failed_at, deliveries.c.id) < tuple_(*after))
    stmt = stmt.order_by(deliveries.c.failed_at.desc(), deliveries.c.id.desc()).limit(limit)
    return list((await session.execute(stmt)).mappings())


async def requeue_failed(session: AsyncSession, delivery_id: uuid.UUID) -> RowMapping | None:
    """Put a failed mail back in the queue (an admin fixed the cause)."""
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == DeliveryStatus.FAILED)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=func.now(),
            failed_at=None,
            queued_at=func.now(),
        )
        .returning(deliveries)
    )
    row: RowMapping | None = result.mappings().first()
    return row


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many mails are pending, sent and failed."""
    result = await session.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
    return {status: int(n) for status, n in result.all()}


async def deliveries_for_event(session: AsyncSession, event_id: uuid.UUID) -> list[RowMapping]:
    """The mails an event produced (tests and debugging)."""
    result = await session.execute(
        select(deliveries).where(deliveries.c.event_id == event_id).order_by(deliveries.c.kind)
    )
    return list(result.mappings())
