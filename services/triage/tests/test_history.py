"""Routing that learns who solves what: resolved, reopened and reassigned tickets are evidence."""

from __future__ import annotations

import uuid

from shared.db import transaction
from shared.events import TicketSnapshot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage import service
from triage.analyzer.base import Analysis
from triage.assignment import StaffMember, Track, plan

from .helpers import SYSTEM, add_staff, created, human, updated

CATEGORIES = ["IT Support", "Technical Support"]


async def triage(
    sessions: async_sessionmaker[AsyncSession], category: str = "IT Support"
) -> tuple[TicketSnapshot, service.Outcome]:
    event = created("Intranet unreachable", "internal hosts do not answer from home")
    result = Analysis(
        category=category,
        priority="medium",
        related_skills=(category.lower(),),
        summary="s",
        helpful_notes="n",
        confidence=0.7,
        provider="local",
        model="t",
    )
    async with transaction(sessions) as s:
        outcome = await service.triage_ticket(
            session=s,
            snapshot=event.ticket,
            version=1,
            attempt=1,
            analysis=result,
            model_version=1,
            categories=CATEGORIES,
            capacity=50,
        )
    return event.ticket, outcome


async def apply(sessions: async_sessionmaker[AsyncSession], *events: object) -> None:
    for event in events:
        async with transaction(sessions) as s:
            await service.apply_ticket_update(
                session=s,
                event=event,
                categories=CATEGORIES,  # type: ignore[arg-type]
                capacity=50,
            )


def ref(uid: uuid.UUID) -> dict[str, object]:
    return {"id": uid, "name": "x", "email": "x@x.test"}


async def test_a_moderator_who_keeps_resolving_a_kind_of_ticket_gets_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    admin = await add_staff(sessions, name="root", skills=[], role="admin")
    solver = await add_staff(sessions, name="solver", skills=["Linux"])  # nobody typed "IT Support" for them
    # nobody fits an IT Support ticket yet: the admin gets it
    _, first = await triage(sessions)
    assert first.assignee_id == admin
    # then staff hand such tickets to solver, who resolves them
    for i in range(6):
        snap = created("Intranet unreachable", "internal hosts do not answer").ticket
        given = updated(snap, version=2, actor=SYSTEM, category="IT Support", assigned_to=ref(admin))
        moved = updated(given.ticket, version=3, actor=human("admin"), assigned_to=ref(solver))
        events = [given, moved]
        if i < 5:
            events.append(updated(moved.ticket, version=4, actor=human(), status="resolved"))
        await apply(sessions, *events)

    _, outcome = await triage(sessions)
    assert outcome.assignee_id == solver
    assert "resolved 5 similar tickets, given 6 by staff in 30 days" in outcome.reason
    # another category is not their record
    _, other = await triage(sessions, category="Technical Support")
    assert other.assignee_id == admin


async def test_reopened_tickets_count_against(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_staff(sessions, name="root", skills=[], role="admin")
    sloppy = await add_staff(sessions, name="sloppy", skills=["Linux"])
    for _ in range(3):
        snap, _ = await triage(sessions)
        mine = updated(snap, version=2, actor=SYSTEM, category="IT Support", assigned_to=ref(sloppy))
        done = updated(mine.ticket, version=3, actor=human(), status="resolved")
        back = updated(done.ticket, version=4, actor=human("user"), status="open")
        await apply(sessions, mine, done, back)
    _, outcome = await triage(sessions)
    assert outcome.assignee_id != sloppy  # 3 resolved, 3 reopened: no evidence


def test_history_is_deterministic_and_below_the_minimum_is_no_evidence() -> None:
    a = StaffMember(user_id=uuid.UUID(int=1), role="moderator", name="a", skills=(), open_count=0, capacity=5)
    b = StaffMember(user_id=uuid.UUID(int=2), role="moderator", name="b", skills=(), open_count=0, capacity=5)
    history = {a.user_id: Track(resolved=1), b.user_id: Track(resolved=14, reopened=1)}
    first = plan(skills=[], category="VPN", staff=[a, b], history=history)
    assert [x.member for x in first] == [b]
    assert "resolved 14 similar tickets, 1 reopened in 30 days" in first[0].reason
    assert plan(skills=[], category="VPN", staff=[b, a], history=dict(reversed(history.items()))) == first
