"""The idempotent consumer: an event's effect and its "processed" mark commit together."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.batching import MicroBatcher
from shared.events import Envelope, EventData
from shared.logging import bind_contextvars, clear_contextvars, get_logger

log = get_logger(__name__)
E = TypeVar("E", bound=EventData)
# what a consumer does with one event inside the transaction of its processed mark (no commit)
EventHandler = Callable[[AsyncSession, EventData, Envelope], Awaitable[None]]


def processed_messages_table(metadata: MetaData) -> Table:
    """Event ids a service's consumers have applied (add it to the service's metadata)."""
    return Table(
        "processed_messages",
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("message_id", UUID(as_uuid=True), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_id"),
    )


async def claim(session: AsyncSession, table: Table, *, consumer: str, envelope: Envelope) -> bool:
    """Mark the event processed in this transaction; False if it already was (a redelivery).

    A concurrent duplicate blocks on the primary key until the first transaction ends, then
    sees the conflict: exactly one of them applies the effect.
    """
    return bool(await claim_many(session, table, consumer=consumer, envelopes=[envelope]))


async def claim_many(
    session: AsyncSession, table: Table, *, consumer: str, envelopes: Sequence[Envelope]
) -> set[uuid.UUID]:
    """`claim` for several events in one statement: the ids that were not processed before.

    An id that appears twice in `envelopes` is returned once: apply it once.
    """
    ids = list(dict.fromkeys(e.id for e in envelopes))
    if not ids:
        return set()
    result = await session.execute(_claim_statement(table), {"consumer": consumer, "ids": ids})
    return set(result.scalars())


@functools.cache
def _claim_statement(table: Table) -> Any:
    """INSERT ... SELECT unnest(:ids) for one processed-messages table, built once: one statement
    (and one compiled-cache entry) whatever the number of ids."""
    ids = func.unnest(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))), type_=UUID(as_uuid=True))
    return (
        insert(table)
        .from_select(["consumer", "message_id"], select(bindparam("consumer", type_=String()), ids))
        .on_conflict_do_nothing()
        .returning(table.c.message_id)
    )


def idempotent(
    *,
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    consumer: str,
    handlers: dict[str, Callable[[AsyncSession, EventData, Envelope], Awaitable[None]]],
    batch_size: int = 1,
    prepare: Callable[[AsyncSession, list[EventData]], Awaitable[None]] | None = None,
) -> Callable[[Envelope], Awaitable[None]]:
    """A bus handler that applies each event once, in one transaction with its processed mark.

    `handlers` maps an event type to `async def handle(session, payload, envelope)`; the
    handler must not commit. Types without a handler are marked processed and ignored.
    With `batch_size` > 1, events in flight together share one transaction (`shared.batching`):
    one claim for all, then each handler in arrival order; each call still returns only after
    its event's commit, and a batch that fails is applied again one event at a time.
    `prepare(session, payloads)`, when given, runs before the handlers with the payloads of the
    batch's fresh events: reading (and locking) in one statement what they will each need.
    """

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        payloads = [e.payload() for e in envelopes]
        async with sessions() as session, session.begin():
            fresh = await claim_many(session, table, consumer=consumer, envelopes=envelopes)
            if prepare is not None and len(fresh) > 1:
                await prepare(session, [p for e, p in zip(envelopes, payloads, strict=True) if e.id in fresh])
            for envelope, payload in zip(envelopes, payloads, strict=True):
                if len(envelopes) > 1:  # alone, it runs in its message's logging context already
                    clear_contextvars()
                    bind_contextvars(
                        event_type=envelope.type, event_id=str(envelope.id), correlation_id=envelope.correlation_id
                    )
                if envelope.id not in fresh:
                    log.info("event_duplicate_skipped")
                    continue
                fresh.discard(envelope.id)
                handler = handlers.get(envelope.type)
                if handler is not None:
                    await handler(session, payload, envelope)

    async def handle(envelope: Envelope) -> None:
        await handle_batch([envelope])

    if batch_size > 1:
        batcher: MicroBatcher[Envelope] = MicroBatcher(
            run_batch=handle_batch, run_one=handle, max_batch=batch_size, name=consumer
        )
        return batcher.submit
    return handle
