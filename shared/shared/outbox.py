"""The transactional outbox: events are rows written with the change, published by a relay.

`add_event` inserts the envelope in the caller's transaction (and a NOTIFY that Postgres only
delivers on commit). `OutboxRelay` claims unsent rows with `FOR UPDATE SKIP LOCKED`, publishes
them with publisher confirms and marks them sent only after the broker confirmed them, so a
crash between publish and mark re-publishes (consumers are idempotent) and never loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from shared.bus import Bus, BusUnavailableError
from shared.db import asyncpg_dsn
from shared.events import Envelope, EventData
from shared.logging import current_correlation_id, get_logger
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from shared.outage import DependencyGate, is_unavailable

log = get_logger(__name__)
NOTIFY_CHANNEL = "helpdesk_outbox"


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table in a service's schema (add it to the service's metadata)."""
    return Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("routing_key", String(100), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Index(
            "ix_outbox_unsent",
            "available_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


async def add_event(
    session: AsyncSession,
    outbox: Table,
    data: EventData,
    *,
    correlation_id: str | None = None,
) -> Envelope:
    """Write an event into the outbox inside the caller's transaction (with the current trace context).

    The same statement NOTIFYs the outbox's relays (Postgres delivers it on commit, once per
    transaction however many rows were written): no round trip of its own.
    """
    envelope = Envelope.wrap(
        data,
        correlation_id=correlation_id or current_correlation_id(),
        traceparent=tracing.current_traceparent(),
    )
    # the row depends on no pending ORM change: those are written with the transaction's others
    # (a batch of ticket updates in one flush at the commit, not one flush per event written)
    with session.no_autoflush:
        await session.execute(
            _insert_one(outbox),
            {"id": envelope.id, "routing_key": envelope.type, "envelope": envelope.model_dump(mode="json")},
        )
    return envelope


async def add_events(
    session: AsyncSession, outbox: Table, events: list[tuple[EventData, str | None, str | None]]
) -> list[Envelope]:
    """`add_event` for several (event, correlation id, traceparent) triples: one multi-row INSERT."""
    if not events:
        return []
    envelopes = [Envelope.wrap(data, correlation_id=cid, traceparent=tp) for data, cid, tp in events]
    await session.execute(
        outbox.insert()
        .values([{"id": e.id, "routing_key": e.type, "envelope": e.model_dump(mode="json")} for e in envelopes])
        .returning(_notify(outbox))
    )
    return envelopes


@functools.cache
def _insert_one(outbox: Table) -> Any:
    """One event's INSERT (with the NOTIFY), built once per outbox: not rebuilt and re-keyed per event."""
    return (
        outbox.insert()
        .values(id=bindparam("id"), routing_key=bindparam("routing_key"), envelope=bindparam("envelope"))
        .returning(_notify(outbox))
    )


def _notify(outbox: Table) -> ColumnElement[Any]:
    """`pg_notify` of the outbox's relays, as a column of the INSERT that writes its rows.

    The payload is the outbox's schema: every service's relay listens on the one channel of the
    database and wakes only for its own outbox.
    """
    return func.pg_notify(NOTIFY_CHANNEL, outbox.schema or "")


class OutboxRelay:
    """Publishes a service's outbox rows; several relays (processes) may run at once."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        bus: Bus,
        database_url: str,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        linger: float = 0.005,
        listen: bool = True,
        gate: DependencyGate | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._bus = bus
        self._dsn = asyncpg_dsn(database_url)
        self._batch = batch_size
        self._poll = poll_interval
        # after a wake-up, wait this long before claiming: the commit's own wake-up and its NOTIFY,
        # and the rest of a burst, become one round (one claim, one mark) instead of several
        self._linger = linger
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._stopping = False
        # LISTEN needs a session of its own: not through a transaction pooler (then: poll + wake)
        self._listen = listen
        self._gate = gate
        # built once: a round costs two statements, not their construction and cache keys too
        self._claim = (
            select(outbox.c.id, outbox.c.envelope, outbox.c.attempts)
            .where(outbox.c.published_at.is_(None), outbox.c.available_at <= func.now())
            .order_by(outbox.c.available_at, outbox.c.created_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        # one array parameter, not one per row (no IN list to expand and compile per batch size)
        self._mark_sent = (
            update(outbox)
            .where(outbox.c.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
            .values(published_at=func.now(), last_error=None)
        )

    def wake(self) -> None:
        """This process committed outbox rows: look for them now, unless their NOTIFY will say so.

        While the relay LISTENs, the NOTIFY the rows' INSERT sent wakes it at their commit; a
        wake-up here as well cost a second, empty round (BEGIN, claim, COMMIT) for most commits,
        and one for every commit that wrote no outbox row at all.
        """
        if self._listener is None or self._listener.is_closed():
            self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._outbox.schema}")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_listener()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._listener.close(), 2)
            self._listener = None

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            self._listener = conn
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("outbox_listener_unavailable", error=str(exc))

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        # one channel for the database: another service's outbox is not this relay's work
        if payload == (self._outbox.schema or ""):
            self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            if self._listen:
                await self._ensure_listener()
            # cleared before looking, not after: a wake-up (commit or NOTIFY) that arrives while
            # a batch is being published must start the next round, not wait for the poll
            self._wakeup.clear()
            try:
                sent = await self.publish_batch()
            except BusUnavailableError:
                await asyncio.sleep(1.0)
                continue
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any one failure
                log.warning("outbox_relay_error", error=str(exc)[:300] or type(exc).__name__)
                if self._gate is not None and is_unavailable(exc):
                    self._gate.report(exc)
                await asyncio.sleep(1.0)
                continue
            if sent >= self._batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)
            if self._linger and self._wakeup.is_set():
                await asyncio.sleep(self._linger)

    async def publish_batch(self) -> int:
        """Claim and publish one batch; returns how many rows were published."""
        ob = self._outbox
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(self._claim)).all()
            if not rows:
                OUTBOX_BACKLOG.labels(ob.schema).set(0)
                return 0
            envelopes = [Envelope.model_validate(row.envelope) for row in rows]
            results = await asyncio.gather(*(self._bus.publish(env) for env in envelopes), return_exceptions=True)
            _fault_point("relay-exit-after-publish")
            sent: list[uuid.UUID] = []
            for row, result in zip(rows, results, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, BusUnavailableError | asyncio.CancelledError):
                        continue  # not the row's fault: try again once the broker is back
                    delay = timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
                    await session.execute(
                        update(ob)
                        .where(ob.c.id == row.id)
                        .values(
                            attempts=ob.c.attempts + 1,
                            available_at=func.now() + delay,
                            last_error=str(result)[:1000],
                        )
                    )
                    log.warning("outbox_publish_failed", event_id=str(row.id), error=str(result)[:300])
                else:
                    sent.append(row.id)
            if sent:
                await session.execute(self._mark_sent, {"ids": sent})
            OUTBOX_PUBLISHED.labels(ob.schema).inc(len(sent))
            unavailable = [r for r in results if isinstance(r, BusUnavailableError)]
        if unavailable and not sent:
            raise unavailable[0]
        return len(sent)

    async def backlog(self) -> int:
        ob = self._outbox
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(ob).where(ob.c.published_at.is_(None)))
        return int(count or 0)


def _fault_point(name: str) -> None:
    """Fault injection for the chaos suite: inert unless HELPDESK_FAULT_DIR is set.

    When `<HELPDESK_FAULT_DIR>/<name>` exists the process removes it and dies on the spot, so a
    test can kill the relay exactly between the broker's confirm and the row's mark-sent.
    """
    folder = os.environ.get("HELPDESK_FAULT_DIR")
    if not folder:
        return
    marker = os.path.join(folder, name)
    try:
        os.remove(marker)
    except FileNotFoundError:
        return
    log.warning("fault_injected", fault=name)
    os._exit(137)


async def purge_published(sessions: async_sessionmaker[AsyncSession], outbox: Table, *, older_than: timedelta) -> int:
    """Delete published rows older than `older_than` (housekeeping)."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            outbox.delete().where(
                outbox.c.published_at.is_not(None),
                outbox.c.published_at < func.now() - older_than,
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
