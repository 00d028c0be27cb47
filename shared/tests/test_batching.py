"""shared.batching: handlers in flight together run as one batch, and each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from shared.batching import MicroBatcher
from shared.outage import DependencyUnavailableError


class Recorder:
    def __init__(self, *, poison: str | None = None, away: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.poison = poison
        self.away = away

    async def run_batch(self, items: Sequence[str]) -> None:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        if self.away:
            raise DependencyUnavailableError("database away")
        if self.poison in items:
            raise ValueError("one bad item spoils the batch")

    async def run_one(self, item: str) -> None:
        self.singles.append(item)
        if self.away:
            raise DependencyUnavailableError("database away")
        if item == self.poison:
            raise ValueError(f"bad {item}")


def batcher(rec: Recorder, size: int = 4) -> MicroBatcher[str]:
    return MicroBatcher(run_batch=rec.run_batch, run_one=rec.run_one, max_batch=size, name="t")


async def test_items_in_flight_together_form_batches_of_at_most_max() -> None:
    rec = Recorder()
    b = batcher(rec)
    items = [f"m{i}" for i in range(10)]
    results = await asyncio.gather(*(b.submit(i) for i in items), return_exceptions=True)
    assert results == [None] * 10
    assert sorted(i for batch in rec.batches for i in batch) == sorted(items)
    assert all(len(batch) <= 4 for batch in rec.batches)
    assert len(rec.batches) == 3  # 4 + 4 + 2: nothing ran alone
    assert rec.singles == []


async def test_a_lone_item_runs_alone_without_waiting() -> None:
    rec = Recorder()
    await batcher(rec).submit("only")
    assert rec.singles == ["only"]
    assert rec.batches == []


async def test_a_failed_batch_is_retried_one_by_one_and_only_the_bad_item_fails() -> None:
    rec = Recorder(poison="m2")
    b = batcher(rec)
    results = await asyncio.gather(*(b.submit(f"m{i}") for i in range(4)), return_exceptions=True)
    assert results[0] is None
    assert results[1] is None
    assert results[3] is None
    assert isinstance(results[2], ValueError)
    assert "bad m2" in str(results[2])
    assert rec.singles == ["m0", "m1", "m2", "m3"]


async def test_an_outage_fails_every_item_of_the_batch_without_one_by_one_retries() -> None:
    rec = Recorder(away=True)
    b = batcher(rec)
    results = await asyncio.gather(*(b.submit(f"m{i}") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, DependencyUnavailableError) for r in results)
    assert rec.singles == []  # each handler pauses behind the gate and submits again


async def test_a_cancelled_handler_leaves_the_others_alone() -> None:
    rec = Recorder()
    b = batcher(rec, size=2)
    first = asyncio.create_task(b.submit("a"))
    second = asyncio.create_task(b.submit("b"))
    third = asyncio.create_task(b.submit("c"))
    await asyncio.sleep(0)
    third.cancel()
    await asyncio.gather(first, second)
    with pytest.raises(asyncio.CancelledError):
        await third
    assert [i for batch in rec.batches for i in batch] + rec.singles == ["a", "b"]
