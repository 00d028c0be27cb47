"""Dead letters with an owner: each service consumes its own `<queue>.dlq` into a table.

Nothing waits unseen in a broker queue: the consumer records every dead-lettered message
(`dead_letters`: event, error, first/last seen, how many times) and acks it. Admins list,
inspect, replay (one or all: the event goes back to the service's own queue, with its id, so the
idempotent consumer applies it at most once) or discard it with a reason, under
`/api/dead-letters/<service>` (through the gateway), or with `make replay-dead-letters`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import AdminPrincipal
from shared.bus import Bus, BusUnavailableError, DeadLetter, PermanentError
from shared.deps import SessionDep
from shared.events import Envelope
from shared.logging import get_logger
from shared.metrics import DEAD_LETTERS
from shared.problems import ProblemError, not_found
from shared.text import Storable

log = get_logger(__name__)
Status = Literal["open", "replayed", "discarded"]


def dead_letters_table(metadata: MetaData) -> Table:
    """The dead letters of a service's queue (add it to the service's metadata; migrate it)."""
    return Table(
        "dead_letters",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),  # the event id (message id)
        Column("queue", String(64), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("envelope", JSONB),  # NULL: the body was not even an event (see `body`)
        Column("body", Text),
        Column("error", Text, nullable=False),
        Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("count", Integer, nullable=False, server_default="1"),
        Column("status", String(16), nullable=False, server_default="open"),
        Column("replays", Integer, nullable=False, server_default="0"),
        Column("resolution", Text),
        Column("resolved_by", UUID(as_uuid=True)),
        Column("resolved_at", DateTime(timezone=True)),
        Index("ix_dead_letters_status_last_seen", "status", "last_seen"),
    )


# -- recording ---------------------------------------------------------------------------------


def recorder(
    *,
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    service: str,
    then: Callable[[Envelope], Awaitable[None]] | None = None,
) -> Callable[[DeadLetter], Awaitable[None]]:
    """A dead-letter handler: runs `then` (the service's own reaction, idempotent) and records it."""

    async def record(letter: DeadLetter) -> None:
        if then is not None and letter.envelope is not None:
            try:
                await then(letter.envelope)
            except PermanentError as exc:  # nothing to react with: recording it is all there is
                log.warning("dead_letter_reaction_skipped", error=str(exc)[:300])
        envelope = letter.envelope
        values: dict[str, Any] = {
            "id": envelope.id if envelope else uuid.uuid5(uuid.NAMESPACE_OID, letter.body.hex()),
            "queue": letter.queue,
            "event_type": envelope.type if envelope else "malformed",
            "envelope": envelope.model_dump(mode="json") if envelope else None,
            "body": None if envelope else letter.body[:10_000].decode("utf-8", "replace").replace("\x00", ""),
            "error": letter.error[:2000],
        }
        statement = insert(table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={
                "last_seen": func.now(),
                "count": table.c.count + 1,
                "error": statement.excluded.error,
                "status": "open",
                "resolution": None,
                "resolved_by": None,
                "resolved_at": None,
            },
        )
        async with sessions() as session, session.begin():
            await session.execute(statement)
            await refresh_metric(session, table, service)
        log.error(
            "dead_letter_recorded",
            event_type=values["event_type"],
            event_id=str(values["id"]),
            error=letter.error[:300],
        )

    return record


async def refresh_metric(session: AsyncSession, table: Table, service: str) -> int:
    count = int(await session.scalar(select(func.count()).where(table.c.status == "open")) or 0)
    DEAD_LETTERS.labels(service).set(count)
    return count


# -- queries -----------------------------------------------------------------------------------


async def list_letters(session: AsyncSession, table: Table, *, status: Status | None, limit: int) -> list[Any]:
    query = select(*_summary_columns(table)).order_by(table.c.last_seen.desc()).limit(limit)
    if status is not None:
        query = query.where(table.c.status == status)
    return list((await session.execute(query)).all())


async def get_letter(session: AsyncSession, table: Table, letter_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = select(table).where(table.c.id == letter_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def open_ids(session: AsyncSession, table: Table, *, limit: int) -> list[uuid.UUID]:
    rows = await session.execute(
        select(table.c.id)
        .where(table.c.status == "open", table.c.envelope.is_not(None))
        .order_by(table.c.first_seen)
        .limit(limit)
    )
    return [row.id for row in rows]


async def resolve(
    session: AsyncSession,
    table: Table,
    letter_id: uuid.UUID,
    *,
    status: Status,
    by: uuid.UUID,
    resolution: str | None,
) -> None:
    values: dict[str, Any] = {"status": status, "resolved_by": by, "resolved_at": func.now(), "resolution": resolution}
    if status == "replayed":
        values["replays"] = table.c.replays + 1
    await session.execute(update(table).where(table.c.id == letter_id).values(**values))


def _summary_columns(table: Table) -> list[Any]:
    return [
        table.c[name]
        for name in (
            "id",
            "queue",
            "event_type",
            "error",
            "first_seen",
            "last_seen",
            "count",
            "status",
            "replays",
            "resolution",
            "resolved_at",
        )
    ]


# -- API ---------------------------------------------------------------------------------------


class DeadLetterRead(BaseModel):
    """A dead-lettered message as an admin sees it in the list."""

    id: uuid.UUID
    queue: str
    event_type: str
    error: str
    first_seen: datetime
    last_seen: datetime
    count: int
    status: Status
    replays: int
    resolution: str | None
    resolved_at: datetime | None


class DeadLetterDetail(DeadLetterRead):
    """One dead letter with the event it carried (or the raw body of a malformed one)."""

    envelope: dict[str, Any] | None
    body: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    open: int


class Discard(BaseModel):
    """Why a dead letter is dropped for good (kept in the record)."""

    model_config = {"extra": "forbid"}
    reason: Annotated[str, Storable, Field(min_length=3, max_length=1000)]


class Replayed(BaseModel):
    replayed: int


def router(*, service: str, table: Table, queue: str) -> APIRouter:
    """Admin routes under /api/dead-letters/<service> for the dead letters of `queue`."""
    api = APIRouter(prefix=f"/api/dead-letters/{service}", tags=["dead letters"])

    def bus_of(request: Request) -> Bus:
        bus: Bus | None = request.app.state.runtime.bus
        if bus is None:  # pragma: no cover - every service with a queue has a bus
            raise ProblemError(503, "This process has no broker connection.")
        return bus

    async def replay_one(session: AsyncSession, bus: Bus, letter_id: uuid.UUID, admin: uuid.UUID) -> None:
        row = await get_letter(session, table, letter_id, lock=True)
        if row is None:
            raise not_found("dead letter")
        if row.status != "open":
            raise ProblemError(409, f"This dead letter is already {row.status}.")
        if row.envelope is None:
            raise ProblemError(409, "A malformed message cannot be replayed; discard it with a reason.")
        try:
            await bus.publish_to_queue(Envelope.model_validate(row.envelope), queue)
        except BusUnavailableError as exc:
            raise ProblemError(
                503, "The broker is unavailable; try again shortly.", headers={"Retry-After": "5"}
            ) from exc
        await resolve(session, table, letter_id, status="replayed", by=admin, resolution=None)

    @api.get("", response_model=DeadLetterPage)
    async def list_dead_letters(
        session: SessionDep,
        _admin: AdminPrincipal,
        status: Annotated[Status | None, Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> DeadLetterPage:
        """Dead letters of this service, newest first (admin)."""
        rows = await list_letters(session, table, status=status, limit=limit)
        count = await refresh_metric(session, table, service)
        return DeadLetterPage(items=[DeadLetterRead.model_validate(r._asdict()) for r in rows], open=count)

    @api.get("/{letter_id}", response_model=DeadLetterDetail)
    async def get_dead_letter(letter_id: uuid.UUID, session: SessionDep, _admin: AdminPrincipal) -> DeadLetterDetail:
        """One dead letter with its event (admin)."""
        row = await get_letter(session, table, letter_id)
        if row is None:
            raise not_found("dead letter")
        return DeadLetterDetail.model_validate(row._asdict())

    @api.post("/replay", response_model=Replayed)
    async def replay_all(request: Request, session: SessionDep, admin: AdminPrincipal) -> Replayed:
        """Send every open dead letter back to this service's queue (admin)."""
        bus = bus_of(request)
        ids = await open_ids(session, table, limit=10_000)
        for letter_id in ids:
            await replay_one(session, bus, letter_id, admin.id)
        await refresh_metric(session, table, service)
        return Replayed(replayed=len(ids))

    @api.post("/{letter_id}/replay", response_model=Replayed)
    async def replay(letter_id: uuid.UUID, request: Request, session: SessionDep, admin: AdminPrincipal) -> Replayed:
        """Send one dead letter back to this service's queue, once (admin)."""
        await replay_one(session, bus_of(request), letter_id, admin.id)
        await refresh_metric(session, table, service)
        return Replayed(replayed=1)

    @api.post("/{letter_id}/discard", response_model=DeadLetterDetail)
    async def discard(
        letter_id: uuid.UUID, body: Discard, session: SessionDep, admin: AdminPrincipal
    ) -> DeadLetterDetail:
        """Drop a dead letter for good, saying why (admin)."""
        row = await get_letter(session, table, letter_id, lock=True)
        if row is None:
            raise not_found("dead letter")
        if row.status != "open":
            raise ProblemError(409, f"This dead letter is already {row.status}.")
        await resolve(session, table, letter_id, status="discarded", by=admin.id, resolution=body.reason)
        await refresh_metric(session, table, service)
        row = await get_letter(session, table, letter_id)
        return DeadLetterDetail.model_validate(row._asdict())

    return api
