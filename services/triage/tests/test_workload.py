"""Workload slots are taken atomically: concurrent triage never overfills a moderator."""

from __future__ import annotations

import asyncio

from shared.db import transaction
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage import repository, service
from triage.analyzer.base import Analysis
from triage.models import Decision, Staff, outbox

from .helpers import add_staff, created


def analysis(skills: tuple[str, ...] = ("VPN",)) -> Analysis:
    return Analysis(
        category="Technical Support",
        priority="high",
        related_skills=skills,
        summary="s",
        helpful_notes="n",
        confidence=0.8,
        provider="local",
        model="local-test",
    )


async def triage_one(sessions: async_sessionmaker[AsyncSession], capacity: int) -> service.Outcome:
    event = created("VPN down", "vpn")
    async with transaction(sessions) as s:
        return await service.triage_ticket(
            session=s,
            snapshot=event.ticket,
            version=1,
            attempt=1,
            analysis=analysis(),
            model_version=1,
            categories=["Technical Support", "General Inquiry"],
            capacity=capacity,
        )


async def test_last_slot_is_taken_once_by_two_concurrent_transactions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mod = await add_staff(sessions, role="moderator", name="mo", skills=["VPN"], open_count=4)
    # Both transactions see the moderator with one free slot before either takes it.
    async with sessions() as a, sessions() as b, a.begin(), b.begin():
        for s in (a, b):
            (row,) = await repository.active_staff(s)
            assert row.open_count == 4
        first = await repository.take_slot(a, user_id=mod, limit=5)
        second = asyncio.create_task(repository.take_slot(b, user_id=mod, limit=5))
        await asyncio.sleep(0.2)
        assert not second.done()  # queued on the row lock
        await a.commit()
        assert first == 5
        assert await second is None  # re-checked against the committed 5: full


async def test_concurrent_triage_never_overfills(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mod = await add_staff(sessions, role="moderator", name="mo", skills=["VPN"], open_count=7)
    admin = await add_staff(sessions, role="admin", name="ad", skills=[])
    outcomes = await asyncio.gather(*(triage_one(sessions, capacity=10) for _ in range(12)))
    to_mod = [o for o in outcomes if o.assignee_id == mod]
    waiting = [o for o in outcomes if o.assignee_id is None]
    assert len(to_mod) == 3
    assert len(waiting) == 9  # someone fits: the ticket waits for them, never goes to the admin
    assert all("waiting for a free slot" in o.reason for o in waiting)
    async with sessions() as s:
        counts = dict((await s.execute(select(Staff.user_id, Staff.open_count))).all())
        decisions = await s.scalar(select(func.count()).select_from(Decision))
        events = await s.scalar(select(func.count()).select_from(outbox))
    assert counts == {mod: 10, admin: 0}
    assert decisions == 12
    assert events == 12


async def test_per_moderator_capacity_overrides_default(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    small = await add_staff(sessions, role="moderator", name="small", skills=["VPN"], capacity=1)
    big = await add_staff(sessions, role="moderator", name="big", skills=["VPN"], open_count=3)
    first = await triage_one(sessions, capacity=20)
    second = await triage_one(sessions, capacity=20)
    assert first.assignee_id == small  # less loaded
    assert second.assignee_id == big  # small is at its own capacity of 1
    assert "better matches at capacity: small" in second.reason


async def test_every_fitting_moderator_full_means_waiting_not_failed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_staff(sessions, role="moderator", name="mo", skills=["VPN"], open_count=2)
    outcome = await triage_one(sessions, capacity=2)
    assert outcome.assignee_id is None
    assert "every moderator who fits is at capacity (mo 2 of 2 open)" in outcome.reason
    async with sessions() as s:
        (decision,) = (await s.scalars(select(Decision))).all()
        assert decision.outcome == "waiting"
        assert decision.assignment_reason == outcome.reason
        (row,) = (await s.execute(select(outbox.c.routing_key, outbox.c.envelope))).all()
    assert row.routing_key == "ticket.triaged"
    assert row.envelope["data"]["assignee"] is None
    assert row.envelope["data"]["priority"] == "high"  # the SLA runs while it waits


async def test_nobody_fits_and_no_admin_fails_with_reason(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_staff(sessions, role="moderator", name="mo", skills=["Payroll"])
    outcome = await triage_one(sessions, capacity=2)
    assert outcome.assignee_id is None
    assert "no admin to fall back on" in outcome.reason
    async with sessions() as s:
        (row,) = (await s.execute(select(outbox.c.routing_key, outbox.c.envelope))).all()
    assert row.routing_key == "ticket.triage_failed"


async def test_equal_moderator_free_is_taken_instead_of_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    a = await add_staff(sessions, role="moderator", name="a", skills=["VPN"])
    b = await add_staff(sessions, role="moderator", name="b", skills=["VPN"], open_count=1)
    async with sessions() as s1, s1.begin():
        # another triage holds a's row (it is giving a a ticket right now)
        assert await repository.take_slot(s1, user_id=a, limit=10) == 1
        outcome = await asyncio.wait_for(triage_one(sessions, capacity=10), 5)
        assert outcome.assignee_id == b  # did not queue behind the lock
    # with nobody holding a row, the plan's order (lower workload first) applies again
    assert (await triage_one(sessions, capacity=10)).assignee_id == a


async def test_skip_locked_never_overfills(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await add_staff(sessions, role="moderator", name="a", skills=["VPN"], open_count=8)
    b = await add_staff(sessions, role="moderator", name="b", skills=["VPN"], open_count=8)
    admin = await add_staff(sessions, role="admin", name="ad", skills=[])
    outcomes = await asyncio.gather(*(triage_one(sessions, capacity=10) for _ in range(10)))
    got = [o.assignee_id for o in outcomes]
    assert got.count(a) == 2
    assert got.count(b) == 2
    assert got.count(None) == 6  # waiting for a or b
    assert got.count(admin) == 0
