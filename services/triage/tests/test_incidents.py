"""Incident detection: similar recent open tickets join one incident, deterministically, one slot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from helpdesk_testing.plugin import TestDatabase
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import Actor, IncidentSnapshot, IncidentUpdated, TicketSnapshot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from triage import incidents, service
from triage.analyzer.base import Analysis
from triage.models import IncidentFeedback, IncidentMember, Staff, outbox
from triage.similarity import Candidate, best_match, features, group, similarity

from .helpers import created

CATEGORIES = ["Technical Support", "General Inquiry"]
RULES = incidents.Rules(threshold=0.45, window_s=600)
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture
async def engine(triage_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(triage_db.url("triage"), pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def add_moderator(sessions: async_sessionmaker[AsyncSession], name: str = "Nick") -> uuid.UUID:
    uid = uuid.uuid4()
    async with transaction(sessions) as s:
        s.add(
            Staff(
                user_id=uid,
                email=f"{name}@x.test",
                name=name,
                role="moderator",
                skills=["VPN"],
                active=True,
                open_count=0,
                revision=0,
            )
        )
    return uid


def analysis() -> Analysis:
    return Analysis(
        category="Technical Support",
        priority="medium",
        related_skills=("VPN",),
        summary="vpn",
        helpful_notes="",
        confidence=0.8,
        provider="local",
        model="local-test",
    )


async def triage(
    sessions: async_sessionmaker[AsyncSession], title: str, description: str, *, at: datetime
) -> tuple[TicketSnapshot, service.Outcome]:
    snap = created(title, description).ticket.model_copy(update={"created_at": at, "updated_at": at})
    async with transaction(sessions) as s:
        outcome = await service.triage_ticket(
            session=s,
            snapshot=snap,
            version=1,
            attempt=1,
            analysis=analysis(),
            model_version=1,
            categories=CATEGORIES,
            capacity=20,
            incident_rules=RULES,
        )
    return snap, outcome


async def triaged(sessions: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, object]]:
    async with sessions() as s:
        rows = (await s.execute(select(outbox.c.envelope).where(outbox.c.routing_key == "ticket.triaged"))).all()
    return {r.envelope["data"]["ticket_id"]: r.envelope["data"] for r in rows}


VPN = "The VPN client times out during authentication since this morning, I cannot reach the intranet."


def test_near_identical_texts_pass_the_threshold_and_different_ones_do_not():
    a = features("VPN not connecting", VPN)
    b = features("VPN not connecting", VPN + " Thanks, Ana")
    c = features("Invoice total is wrong", "My March invoice charges two seats but we only have one.")
    assert similarity(a, b) >= RULES.threshold
    assert similarity(a, c) < RULES.threshold
    assert similarity(a, a) == pytest.approx(1.0)


def test_detection_is_deterministic_whatever_the_candidate_order():
    new = features("VPN not connecting", VPN)
    same = [
        Candidate(uuid.UUID(int=i), T0 + timedelta(seconds=i % 3), features("VPN not connecting", VPN))
        for i in range(1, 7)
    ]
    first = best_match(new, same, threshold=RULES.threshold)
    last = best_match(new, list(reversed(same)), threshold=RULES.threshold)
    assert first is not None
    assert last is not None
    # equal scores: the earliest filed, then the smallest id
    assert first.candidate.ticket_id == last.candidate.ticket_id == uuid.UUID(int=3)
    assert "vpn" in first.shared
    tickets = [(c.ticket_id, c.filed_at, c.features) for c in same]
    assert group(tickets, threshold=0.45, window_s=600) == group(tickets, threshold=0.45, window_s=600)


def test_the_threshold_decides():
    new = features("VPN not connecting", VPN)
    near = Candidate(uuid.uuid4(), T0, features("VPN connection fails", "The VPN times out when I log in."))
    score = similarity(new, near.features)
    assert best_match(new, [near], threshold=score) is not None
    assert best_match(new, [near], threshold=score + 0.01) is None


async def test_a_burst_opens_one_incident_and_takes_one_slot(sessions):
    mod = await add_moderator(sessions)
    snaps = []
    for i in range(6):
        snap, _ = await triage(sessions, "VPN not connecting", f"{VPN} ({i})", at=T0 + timedelta(seconds=5 * i))
        snaps.append(snap)
    other, _ = await triage(
        sessions, "Invoice total is wrong", "My March invoice charges two seats.", at=T0 + timedelta(seconds=7)
    )
    events = await triaged(sessions)
    first = events[str(snaps[0].id)]
    assert first["assignee"]["id"] == str(mod)
    assert first["incident"] is None
    proposals = [events[str(s.id)]["incident"] for s in snaps[1:]]
    assert len({p["incident_id"] for p in proposals}) == 1
    assert [p["opened"] for p in proposals] == [True, False, False, False, False]
    assert all(p["owner"]["id"] == str(mod) and p["anchor_ticket_id"] == str(snaps[0].id) for p in proposals)
    assert all(events[str(s.id)]["assignee"] is None for s in snaps[1:])
    assert "similarity" in proposals[0]["reason"]
    assert "vpn" in proposals[0]["reason"]
    # a different problem in the same minute does not join
    assert events[str(other.id)]["incident"] is None
    async with sessions() as s:
        assert (await s.get(Staff, mod)).open_count == 2  # the burst's one slot, and the invoice


async def test_outside_the_window_no_match(sessions):
    await add_moderator(sessions)
    await triage(sessions, "VPN not connecting", VPN, at=T0)
    late, _ = await triage(sessions, "VPN not connecting", VPN, at=T0 + timedelta(seconds=RULES.window_s + 1))
    assert (await triaged(sessions))[str(late.id)]["incident"] is None


async def test_a_detached_ticket_is_a_labelled_example_and_does_not_rejoin(sessions):
    mod = await add_moderator(sessions)
    a, _ = await triage(sessions, "VPN not connecting", VPN, at=T0)
    b, _ = await triage(sessions, "VPN not connecting", VPN, at=T0 + timedelta(seconds=1))
    incident_id = uuid.UUID((await triaged(sessions))[str(b.id)]["incident"]["incident_id"])
    event = IncidentUpdated(
        incident=IncidentSnapshot(
            id=incident_id, title="VPN", status="open", size=1, created_at=T0, updated_at=T0, owner=None
        ),
        change="detached",
        version=5,
        previous_size=2,
        ticket_ids=[b.id],
        actor=Actor(kind="user", id=mod, role="moderator"),
    )
    for _ in range(2):  # a redelivery records nothing twice
        async with transaction(sessions) as s:
            await incidents.apply_incident_event(s, event)
    async with sessions() as s:
        feedback = (await s.scalars(select(IncidentFeedback))).all()
        assert [(f.ticket_id, f.incident_id, f.label) for f in feedback] == [(b.id, incident_id, "not_same")]
        assert (await s.get(IncidentMember, b.id)).incident_id is None
    # triaged again (the detach asks for it): it stays out of that incident
    async with transaction(sessions) as s:
        proposal = await incidents.detect(s, snapshot=b, rules=RULES)
    assert proposal is None
    del a
