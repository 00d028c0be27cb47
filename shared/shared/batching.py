"""Micro-batching of bus handlers: the messages a consumer has in flight, handled together.

The bus runs one handler task per delivered message (up to the prefetch). A handler that calls
`MicroBatcher.submit(item)` parks its message in a queue; a drain task takes up to `max_batch`
parked items at once and runs `run_batch` on them (one model call, one transaction), then wakes
every handler with its own outcome. Each handler then acks or retries its own message exactly as
it would alone, so the bus's guarantees hold per message: ack only after the batch committed,
retry with backoff, dead-letter after the delivery limit, pause while a dependency is away.
Batches run in a context of their own: `run_batch` binds each item's logging context (and so its
correlation id) while it handles that item.

- Under light load a batch is a single item, run through `run_one`: no added latency.
- A batch that fails because a dependency is away (`shared.outage.is_unavailable`) fails every
  item with that error: each handler pauses behind the bus's gate and submits again.
- A batch that fails for any other reason (one poison message, a deadlock between two batches)
  is run again one item at a time through `run_one`, so only the guilty message fails.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from shared.logging import get_logger
from shared.outage import is_unavailable

log = get_logger(__name__)
T = TypeVar("T")


class MicroBatcher(Generic[T]):
    """Groups concurrent `submit` calls into batches of at most `max_batch` items."""

    def __init__(
        self,
        *,
        run_batch: Callable[[Sequence[T]], Awaitable[None]],
        run_one: Callable[[T], Coroutine[Any, Any, None]],
        max_batch: int,
        name: str = "batch",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._run_one = run_one
        self._max = max_batch
        self._name = name
        self._queue: collections.deque[tuple[T, asyncio.Future[None], contextvars.Context]] = collections.deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Handle `item` in the next batch; raises what handling it raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # an item handled alone runs in its submitter's context (its message's logging context)
        self._queue.append((item, future, contextvars.copy_context()))
        if self._drainer is None or self._drainer.done():
            # a context of its own: not the first submitter's (its message id, correlation id)
            self._drainer = asyncio.create_task(
                self._drain(), name=f"{self._name}-drain", context=contextvars.Context()
            )
        await future

    async def _drain(self) -> None:
        # let the other messages of the same socket read reach `submit` first
        await asyncio.sleep(0)
        while self._queue:
            batch: list[tuple[T, asyncio.Future[None], contextvars.Context]] = []
            while self._queue and len(batch) < self._max:
                entry = self._queue.popleft()
                if not entry[1].done():  # its handler was cancelled (shutdown): skip it
                    batch.append(entry)
            if batch:
                await self._settle(batch)

    async def _settle(self, batch: list[tuple[T, asyncio.Future[None], contextvars.Context]]) -> None:
        items = [item for item, _, _ in batch]
        outcomes: list[BaseException | None]
        try:
            if len(items) == 1:
                outcomes = [await self._one(batch[0][0], batch[0][2])]
            else:
                try:
                    await self._run_batch(items)
                    outcomes = [None] * len(items)
                except Exception as exc:  # noqa: BLE001 - sorted below
                    if is_unavailable(exc):
                        outcomes = [exc] * len(items)
                    else:
                        log.warning(
                            "batch_failed_retrying_one_by_one",
                            batch=self._name,
                            size=len(items),
                            error=str(exc)[:300] or type(exc).__name__,
                        )
                        outcomes = [await self._one(item, ctx) for item, _, ctx in batch]
        except BaseException:
            for _, future, _ in batch:
                if not future.done():
                    future.cancel()
            raise
        for (_, future, _), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)

    async def _one(self, item: T, context: contextvars.Context) -> BaseException | None:
        try:
            await asyncio.create_task(self._run_one(item), context=context)
        except Exception as exc:  # noqa: BLE001 - handed to the item's own handler
            return exc
        return None
