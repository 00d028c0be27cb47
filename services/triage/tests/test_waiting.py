"""Capacity that does not misroute: full moderators make a ticket wait for them, not go elsewhere."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from shared.db import transaction
from shared.events import TicketSnapshot, UserRef
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage import service
from triage.analyzer.base import Analysis
from triage.models import Decision, Staff, TicketCopy, outbox

from .helpers import SYSTEM, add_staff, created, human, updated

CATEGORIES = ["Technical Support", "General Inquiry"]


def analysis(skills: tuple[str, ...] = ("VPN",), priority: str = "medium") -> Analysis:
    return Analysis(
        category="Technical Support",
        priority=priority,
        related_skills=skills,
        summary="vpn drops",
        helpful_notes="notes",
        confidence=0.8,
        provider="local",
        model="local-test",
    )


async def triage(
    sessions: async_sessionmaker[AsyncSession],
    *,
    capacity: int,
    title: str = "VPN down",
    description: str = "the vpn drops",
    overflow: service.Overflow = "wait",
    priority: str = "medium",
) -> tuple[TicketSnapshot, service.Outcome]:
    event = created(title, description)
    async with transaction(sessions) as s:
        outcome = await service.triage_ticket(
            session=s,
            snapshot=event.ticket,
            version=1,
            attempt=1,
            analysis=analysis(priority=priority),
            model_version=1,
            categories=CATEGORIES,
            capacity=capacity,
            overflow=overflow,
        )
    return event.ticket, outcome


async def resolve(
    sessions: async_sessionmaker[AsyncSession], snap: TicketSnapshot, holder: uuid.UUID, *, capacity: int
) -> None:
    """The tickets service's two updates: triage's result applied, then a human resolves it."""
    ref = {"id": holder, "name": "m", "email": "m@x.test"}
    assigned = updated(snap, version=2, actor=SYSTEM, assigned_to=ref)
    done = updated(assigned.ticket, version=3, actor=human(), status="resolved")
    for event in (assigned, done):
        async with transaction(sessions) as s:
            await service.apply_ticket_update(session=s, event=event, categories=CATEGORIES, capacity=capacity)


async def triaged_events(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, object]]:
    async with sessions() as s:
        rows = (
            await s.execute(
                select(outbox.c.routing_key, outbox.c.envelope).order_by(
                    outbox.c.created_at, outbox.c.envelope["occurred_at"].astext
                )
            )
        ).all()
    return [r.envelope["data"] for r in rows if r.routing_key == "ticket.triaged"]


async def test_waiting_ticket_goes_to_the_moderator_who_frees_a_slot(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mod = await add_staff(sessions, role="moderator", name="netmod", skills=["VPN"])
    admin = await add_staff(sessions, role="admin", name="root", skills=[])
    generic = await add_staff(sessions, role="moderator", name="svc", skills=["Customer Service"])
    first, got = await triage(sessions, capacity=1)
    assert got.assignee_id == mod
    second, waits = await triage(sessions, capacity=1, priority="high")
    assert waits.assignee_id is None
    assert waits.reason.startswith("waiting for a free slot: ticket mentions VPN")
    async with sessions() as s:
        copy = await s.get(TicketCopy, second.id)
        assert copy is not None
        assert (copy.state, copy.waiting_for) == ("waiting", [str(mod)])
    # neither the admin nor the generic-word moderator got it
    events = await triaged_events(sessions)
    assert [e["assignee"] and e["assignee"]["id"] for e in events] == [str(mod), None]  # type: ignore[index]
    assert events[1]["priority"] == "high"
    # the waiting result names whom it waits for (the tickets service shows it in their queue)
    assert [e["waiting_for"] for e in events] == [[], [str(mod)]]

    await resolve(sessions, first, mod, capacity=1)

    events = await triaged_events(sessions)
    assert len(events) == 3
    handed = events[2]
    assert handed["ticket_id"] == str(second.id)
    assert handed["attempt"] == 1  # the attempt it waited in
    assert handed["assignee"]["id"] == str(mod)  # type: ignore[index]
    assert "netmod freed a slot and took it" in str(handed["assignment_reason"])
    assert handed["waiting_for"] == []
    async with sessions() as s:
        copy = await s.get(TicketCopy, second.id)
        assert copy is not None
        assert (copy.state, copy.counted_for, copy.waiting_for) == ("done", mod, None)
        counts = dict((await s.execute(select(Staff.user_id, Staff.open_count))).all())
        outcomes = Counter((await s.scalars(select(Decision.outcome))).all())
    assert counts == {mod: 1, admin: 0, generic: 0}
    assert outcomes == {"triaged": 2, "waiting": 1}


async def test_least_loaded_setting_goes_above_capacity_to_a_fitting_moderator(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    busy = await add_staff(sessions, role="moderator", name="busy", skills=["VPN"], open_count=5)
    calm = await add_staff(sessions, role="moderator", name="calm", skills=["VPN"], open_count=3)
    await add_staff(sessions, role="admin", name="root", skills=[])
    _, got = await triage(sessions, capacity=3, overflow="least_loaded")
    assert got.assignee_id == calm
    assert "least loaded of them, above capacity" in got.reason
    async with sessions() as s:
        counts = dict((await s.execute(select(Staff.user_id, Staff.open_count))).all())
    assert counts[calm] == 4
    assert counts[busy] == 5


async def test_admin_only_when_nobody_fits(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_staff(sessions, role="moderator", name="svc", skills=["Customer Service", "Support"])
    admin = await add_staff(sessions, role="admin", name="root", skills=[])
    _, got = await triage(sessions, capacity=5, title="Help", description="customer service issue")
    assert got.assignee_id == admin
    assert "no moderator's skills match" in got.reason


async def test_a_waiting_ticket_closed_or_assigned_by_hand_waits_no_more(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mod = await add_staff(sessions, role="moderator", name="netmod", skills=["VPN"])
    first, _ = await triage(sessions, capacity=1)
    second, _ = await triage(sessions, capacity=1)
    closed = updated(second, version=2, actor=human("admin"), status="closed")
    async with transaction(sessions) as s:
        await service.apply_ticket_update(session=s, event=closed, categories=CATEGORIES, capacity=1)
    await resolve(sessions, first, mod, capacity=1)
    events = await triaged_events(sessions)
    assert len(events) == 2  # nothing handed out: the waiting one was closed
    async with sessions() as s:
        assert (await s.get(Staff, mod)).open_count == 0  # type: ignore[union-attr]


async def test_two_slots_freeing_at_once_assign_two_different_waiting_tickets_once_each(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    a = await add_staff(sessions, role="moderator", name="a", skills=["VPN"])
    b = await add_staff(sessions, role="moderator", name="b", skills=["VPN"])
    held = [await triage(sessions, capacity=1) for _ in range(2)]
    assert {o.assignee_id for _, o in held} == {a, b}
    waiting = [await triage(sessions, capacity=1) for _ in range(3)]
    assert all(o.assignee_id is None for _, o in waiting)
    # each waiting result names both fitting moderators, once each
    waits = [e["waiting_for"] for e in (await triaged_events(sessions))[2:]]
    assert len(waits) == 3
    assert all(sorted(w) == sorted([str(a), str(b)]) for w in waits)  # type: ignore[arg-type]
    # both tickets' "assigned" updates applied first, then both resolutions at the same moment
    assigned = []
    for snap, outcome in held:
        ref = UserRef(id=outcome.assignee_id, name="m", email="m@x.test")  # type: ignore[arg-type]
        event = updated(snap, version=2, actor=SYSTEM, assigned_to=ref.model_dump())
        async with transaction(sessions) as s:
            await service.apply_ticket_update(session=s, event=event, categories=CATEGORIES, capacity=1)
        assigned.append(event.ticket)

    async def resolve_one(snap: TicketSnapshot) -> None:
        event = updated(snap, version=3, actor=human(), status="resolved")
        async with transaction(sessions) as s:
            await service.apply_ticket_update(session=s, event=event, categories=CATEGORIES, capacity=1)

    await asyncio.gather(*(resolve_one(snap) for snap in assigned))

    handed = (await triaged_events(sessions))[5:]
    waiting_ids = [str(snap.id) for snap, _ in waiting]
    assert len(handed) == 2
    assert len({e["ticket_id"] for e in handed}) == 2  # two different tickets, once each
    assert {e["ticket_id"] for e in handed} <= set(waiting_ids[:2])  # the longest-waiting two
    assert {e["assignee"]["id"] for e in handed} == {str(a), str(b)}  # type: ignore[index]
    async with sessions() as s:
        counts = dict((await s.execute(select(Staff.user_id, Staff.open_count))).all())
        states = dict((await s.execute(select(TicketCopy.ticket_id, TicketCopy.state))).all())
    assert counts == {a: 1, b: 1}
    assert sorted(states[snap.id] for snap, _ in waiting) == ["done", "done", "waiting"]
