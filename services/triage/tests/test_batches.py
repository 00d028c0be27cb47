"""Ticket events in flight together are triaged as one batch, with every per-ticket guarantee."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from shared.db import transaction
from shared.events import Envelope
from shared.logging import bind_contextvars
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage import repository
from triage.analyzer.base import Analysis, TicketText
from triage.analyzer.local import DEFAULT_CATEGORIES
from triage.events import Consumer
from triage.models import Decision, Staff, TicketCopy, outbox, processed_messages

from .helpers import SYSTEM, add_staff, created, human, updated
from .test_waiting import analysis


class Batched:
    """An analyzer that answers batches (as the local model does) and crashes on POISON."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    async def analyze(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        if "POISON" in ticket.title:
            raise ValueError("analyzer crashed on this ticket")
        return analysis()

    async def analyze_many(self, tickets: Sequence[TicketText], *, categories: Sequence[str]) -> list[Analysis]:
        self.batch_sizes.append(len(tickets))
        return [await self.analyze(t, categories=categories) for t in tickets]


async def delivered(consumers: Consumer, envelope: Envelope) -> None:
    """What the bus does for each delivered message: bind its context, run the handler."""
    bind_contextvars(correlation_id=envelope.correlation_id, event_id=str(envelope.id))
    await consumers.handle(envelope)


class Vic:
    """Categories seeded, one VPN moderator (Vic), and a consumer batching up to 8 events."""

    def __init__(self, vic: uuid.UUID, consumers: Consumer, analyzer: Batched, commits: list[int]) -> None:
        self.id, self.consumers, self.analyzer, self.commits = vic, consumers, analyzer, commits

    @classmethod
    async def set_up(cls, sessions: async_sessionmaker[AsyncSession], *, capacity: int) -> Vic:
        async with transaction(sessions) as s:
            await repository.seed_categories(s, DEFAULT_CATEGORIES)
        vic = await add_staff(sessions, role="moderator", name="Vic", skills=["VPN"])
        analyzer = Batched()
        commits: list[int] = []
        consumers = Consumer(
            sessions=sessions,
            analyzer=lambda: analyzer,
            models=SimpleNamespace(version=1),  # type: ignore[arg-type]
            capacity=capacity,
            on_commit=lambda: commits.append(1),
            precheck=False,
            batch_size=8,
            update_batch_size=8,
        )
        return cls(vic, consumers, analyzer, commits)


async def test_a_burst_is_triaged_in_batches_keeping_capacity_idempotency_and_poison_alone(
    sessions: async_sessionmaker[AsyncSession],  # noqa: F811 - fixture
) -> None:
    setup = await Vic.set_up(sessions, capacity=2)
    vic, analyzer, consumers = setup.id, setup.analyzer, setup.consumers
    envelopes = [Envelope.wrap(created(f"VPN down {i}", "the vpn drops"), correlation_id=f"req-{i}") for i in range(6)]
    poison = Envelope.wrap(created("POISON ticket", "crashes the analyzer"))
    # the first message delivered twice at once (a redelivery racing the original)
    burst = [*envelopes, envelopes[0], poison]
    results: list[Any] = await asyncio.gather(*(delivered(consumers, e) for e in burst), return_exceptions=True)

    assert analyzer.batch_sizes[0] == len(burst)  # one prediction for the whole burst ...
    assert isinstance(results[-1], ValueError)  # ... whose failure only fails the poison
    assert results[:-1] == [None] * (len(burst) - 1)
    async with sessions() as s:
        decisions = (await s.execute(select(Decision))).scalars().all()
        states = dict((await s.execute(select(TicketCopy.ticket_id, TicketCopy.state))).all())
        vic_row = await s.get(Staff, vic)
        processed = await s.scalar(select(func.count()).select_from(processed_messages))
    assert len(decisions) == 6  # the duplicate changed nothing; the poison wrote nothing
    assert processed == 6
    assert vic_row is not None
    assert vic_row.open_count == 2
    assert sorted(d.outcome for d in decisions) == ["triaged"] * 2 + ["waiting"] * 4
    assert sorted(states.values()) == ["done"] * 2 + ["waiting"] * 4
    # each event of the batch carries the correlation id of the message it answers
    async with sessions() as s:
        sent = [row[0] for row in (await s.execute(select(outbox.c.envelope))).all()]
    by_ticket = {str(e.payload().ticket.id): e.correlation_id for e in envelopes}  # type: ignore[attr-defined]
    assert len(sent) == 6
    assert {e["data"]["ticket_id"]: e["correlation_id"] for e in sent} == by_ticket

    # redelivered later (say after a crash before the acks): nothing happens twice
    again = await asyncio.gather(*(consumers.handle(e) for e in envelopes[:3]))
    assert again == [None] * 3
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Decision)) == 6


async def test_a_batch_spreads_tickets_by_workload_as_one_at_a_time_would(
    sessions: async_sessionmaker[AsyncSession],  # noqa: F811 - fixture
    monkeypatch: Any,
) -> None:
    async with transaction(sessions) as s:
        await repository.seed_categories(s, DEFAULT_CATEGORIES)
    ann = await add_staff(sessions, role="moderator", name="Ann", skills=["VPN"])
    bob = await add_staff(sessions, role="moderator", name="Bob", skills=["VPN"])
    analyzer = Batched()
    consumers = Consumer(
        sessions=sessions,
        analyzer=lambda: analyzer,
        models=SimpleNamespace(version=1),  # type: ignore[arg-type]
        capacity=100,
        precheck=False,
        batch_size=8,
    )
    reads: list[int] = []
    active_staff = repository.active_staff

    async def counted(session: AsyncSession) -> Any:
        reads.append(1)
        return await active_staff(session)

    monkeypatch.setattr(repository, "active_staff", counted)
    burst = [Envelope.wrap(created(f"VPN down {i}", "the vpn drops"), correlation_id=f"req-{i}") for i in range(6)]
    assert await asyncio.gather(*(delivered(consumers, e) for e in burst)) == [None] * 6
    assert analyzer.batch_sizes == [6]
    assert len(reads) == 1  # the staff read once for the batch: each slot taken updates it in place
    async with sessions() as s:
        sent = [row[0] for row in (await s.execute(select(outbox.c.envelope))).all()]
    # each event of the batch carries the correlation id of the message it answers
    by_ticket = {str(e.payload().ticket.id): e.correlation_id for e in burst}  # type: ignore[attr-defined]
    assert {e["data"]["ticket_id"]: e["correlation_id"] for e in sent} == by_ticket
    async with sessions() as s:
        counts = {r.user_id: r.open_count for r in (await s.execute(select(Staff))).scalars()}
    assert counts == {ann: 3, bob: 3}  # each ticket saw the slots the earlier ones took


async def test_updates_in_flight_together_follow_the_tickets_in_one_transaction(
    sessions: async_sessionmaker[AsyncSession],  # noqa: F811 - fixture
) -> None:
    """Closing both tickets of a full moderator in one batch of updates frees both slots, and the
    two longest-waiting tickets take them, as one update at a time would."""
    setup = await Vic.set_up(sessions, capacity=2)
    vic, consumers, commits = setup.id, setup.consumers, setup.commits
    burst = [Envelope.wrap(created(f"VPN down {i}", "the vpn drops")) for i in range(5)]
    for envelope in burst:  # one at a time: the first two take Vic's slots, three wait
        await delivered(consumers, envelope)
    async with sessions() as s:
        held = (await s.execute(select(TicketCopy).where(TicketCopy.counted_for == vic))).scalars().all()
    assert len(held) == 2
    snaps = {e.payload().ticket.id: e.payload().ticket for e in burst}  # type: ignore[attr-defined]
    vic_ref = {"id": vic, "name": "Vic", "email": "vic@x.test"}
    updates = []
    for copy in held:
        assigned = updated(snaps[copy.ticket_id], version=2, actor=SYSTEM, assigned_to=vic_ref)
        closed = updated(assigned.ticket, version=3, actor=human(), status="closed")
        updates += [Envelope.wrap(assigned), Envelope.wrap(closed)]
    commits.clear()
    locks: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if statement.startswith("INSERT INTO triage.tickets"):
            locks.append(statement)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await asyncio.gather(*(delivered(consumers, e) for e in updates)) == [None] * 4
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert commits == [1]  # the four updates: one transaction
    assert len(locks) == 1  # the copies of both tickets locked in one statement, not one per update
    async with sessions() as s:
        copies = {c.ticket_id: c for c in (await s.execute(select(TicketCopy))).scalars()}
        vic_row = await s.get(Staff, vic)
    assert vic_row is not None
    assert vic_row.open_count == 2
    assert {copies[c.ticket_id].status for c in held} == {"closed"}
    now_held = sorted(t for t, c in copies.items() if c.counted_for == vic)
    waiting = [t for t, c in copies.items() if c.state == "waiting"]
    assert len(now_held) == 2
    assert len(waiting) == 1
    # the longest waiting took the freed slots: the third and fourth ticket, not the fifth
    order = [e.payload().ticket.id for e in burst]  # type: ignore[attr-defined]
    assert waiting == [order[4]]
