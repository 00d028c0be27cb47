"""Incident detection: similar recent open tickets join one incident, deterministically, one slot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from shared.db import transaction
from shared.events import Actor, IncidentSnapshot, IncidentUpdated, TicketSnapshot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from triage import incidents, service
from triage.analyzer.base import Analysis
from triage.models import IncidentFeedback, IncidentMember, Staff, outbox
from triage.similarity import Candidate, best_match, features, group, similarity

from .helpers import add_staff, created

CATEGORIES = ["Technical Support", "General Inquiry"]
RULES = incidents.Rules(threshold=0.45, window_s=600)
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


async def triage_together(
    sessions: async_sessionmaker[AsyncSession], snaps: list[TicketSnapshot], *, capacity: int, batched: bool = True
) -> list[service.Outcome]:
    """Triage these tickets in one transaction, as one batch (or each on its own detector)."""
    outcomes = []
    async with transaction(sessions) as s:
        batch = service.Batch(snaps) if batched else None
        for snap in snaps:
            outcome = await service.triage_ticket(
                session=s,
                snapshot=snap,
                version=1,
                attempt=1,
                analysis=analysis(),
                model_version=1,
                categories=CATEGORIES,
                capacity=capacity,
                batch=batch,
                incident_rules=RULES,
            )
            outcomes.append(outcome)
        if batch is not None:
            await batch.finish(s)
    return outcomes


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
    [outcome] = await triage_together(sessions, [snap], capacity=20, batched=False)
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
    mod = await add_staff(sessions, name="Nick", skills=["VPN"])
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
    await add_staff(sessions, name="Nick", skills=["VPN"])
    await triage(sessions, "VPN not connecting", VPN, at=T0)
    late, _ = await triage(sessions, "VPN not connecting", VPN, at=T0 + timedelta(seconds=RULES.window_s + 1))
    assert (await triaged(sessions))[str(late.id)]["incident"] is None


async def test_a_detached_ticket_is_a_labelled_example_and_does_not_rejoin(sessions):
    mod = await add_staff(sessions, name="Nick", skills=["VPN"])
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


def _mixed_tickets(n: int, seed: int) -> list[tuple[str, str, datetime]]:
    """Tickets drawn from a small vocabulary (many pairs near the threshold), some repeated."""
    import random

    rng = random.Random(seed)
    vocab = (
        "vpn login invoice refund printer outage database password email server slow error crash "
        "billing account upgrade laptop screen toner portal timeout certificate wifi badge payroll"
    ).split()
    out: list[tuple[str, str, datetime]] = []
    for i in range(n):
        if out and rng.random() < 0.2:
            title, body, _ = rng.choice(out)  # the same text again (a copied outage notice)
        else:
            title = " ".join(rng.choices(vocab, k=3))
            body = " ".join(rng.choices(vocab, k=rng.randint(4, 14)))
        out.append((title, body, T0 + timedelta(seconds=rng.choice([i * 7, i * 7, (i // 3) * 21]))))
    return out


async def _triage_all(
    sessions: async_sessionmaker[AsyncSession],
    tickets: list[tuple[str, str, datetime]],
    batch_size: int,
    first_id: int = 1,
) -> dict[uuid.UUID, uuid.UUID | None]:
    # ids in filing order (ties in time go to the smaller id: two runs tie-break alike)
    snaps = [
        created(title, body).ticket.model_copy(
            update={"id": uuid.UUID(int=first_id + i), "created_at": at, "updated_at": at}
        )
        for i, (title, body, at) in enumerate(tickets)
    ]
    for start in range(0, len(snaps), batch_size):
        await triage_together(sessions, snaps[start : start + batch_size], capacity=1000, batched=batch_size > 1)
    async with sessions() as s:
        members = dict((await s.execute(select(IncidentMember.ticket_id, IncidentMember.incident_id))).all())
    return {snap.id: members[snap.id] for snap in snaps}


@pytest.mark.parametrize(("limit", "columns"), [(incidents.MAX_CANDIDATES, None), (6, None), (500, 0)])
async def test_batches_group_exactly_as_one_at_a_time_and_as_the_offline_rule(
    engine, sessions, monkeypatch, limit, columns
):
    """The batched detection (one sparse product per batch) changes no grouping: the same
    incidents as one ticket at a time and, without a candidate limit reached, as the offline
    replay `group` (the rule bench/incident_grouping.py measures); also when the process's term
    columns start afresh at every batch (`columns` 0)."""
    monkeypatch.setattr(incidents, "MAX_CANDIDATES", limit)
    if columns is not None:
        monkeypatch.setattr(RULES.memory, "max_columns", columns)
    await add_staff(sessions, name="Nick", skills=["VPN"])
    tickets = _mixed_tickets(90, seed=3)
    tickets.sort(key=lambda t: t[2])
    batched = await _triage_all(sessions, tickets, batch_size=16)
    ids = list(batched)
    offline = group(
        [(tid, at, features(title, body)) for tid, (title, body, at) in zip(ids, tickets, strict=True)],
        threshold=RULES.threshold,
        window_s=RULES.window_s,
    )
    assert sum(1 for v in batched.values() if v is not None) >= (20 if limit > 90 else 5)  # not trivial
    if limit > len(tickets):
        assert batched == {tid: offline.get(tid) for tid in ids}
    # the same tickets again (new ids), one at a time, in a fresh window: the same partition
    later = [(title, body, at + timedelta(days=1)) for title, body, at in tickets]
    single = await _triage_all(sessions, later, batch_size=1, first_id=10_000)

    def partition(found: dict[uuid.UUID, uuid.UUID | None]) -> list[tuple[int, ...]]:
        order = list(found)
        groups: dict[uuid.UUID, list[int]] = {}
        for i, tid in enumerate(order):
            if found[tid] is not None:
                groups.setdefault(found[tid], []).append(i)
        return sorted(tuple(g) for g in groups.values())

    assert partition(single) == partition(batched)


async def test_in_a_batch_an_incident_opened_again_brings_its_members_back_as_candidates(engine, sessions):
    """A closed incident whose anchor (detached meanwhile) opens it again: its old members are
    candidates again for the next tickets of the same batch, as they were one at a time."""
    mod = await add_staff(sessions, name="Nick", skills=["VPN"])
    base = "vpn token expired laptop cannot reach intranet"
    a, _ = await triage(sessions, "VPN token expired", base, at=T0)
    b, _ = await triage(
        sessions, "VPN token expired", base + " printer toner jammed again", at=T0 + timedelta(seconds=1)
    )
    incident_id = uuid.UUID((await triaged(sessions))[str(b.id)]["incident"]["incident_id"])
    actor = Actor(kind="user", id=mod, role="moderator")

    def changed(change: str, status: str, version: int, tickets: list[uuid.UUID]) -> IncidentUpdated:
        snap = IncidentSnapshot(
            id=incident_id, title="VPN", status=status, size=1, created_at=T0, updated_at=T0, owner=None
        )
        return IncidentUpdated(incident=snap, change=change, version=version, ticket_ids=tickets, actor=actor)

    async with transaction(sessions) as s:
        await incidents.apply_incident_event(s, changed("detached", "open", 2, [a.id]))
        await incidents.apply_incident_event(s, changed("resolved", "resolved", 3, []))
    later = [
        (("VPN token expired", base), T0 + timedelta(seconds=2)),  # like a: opens a's incident again
        (("VPN token expired", base + " printer toner jammed again"), T0 + timedelta(seconds=3)),  # b's twin
    ]
    snaps = [
        created(title, body).ticket.model_copy(update={"created_at": at, "updated_at": at})
        for (title, body), at in later
    ]
    await triage_together(sessions, snaps, capacity=20)
    events = await triaged(sessions)
    c, d = (events[str(snap.id)]["incident"] for snap in snaps)
    assert c["incident_id"] == d["incident_id"] == str(incident_id)
    assert c["opened"] is True
    assert c["matched_ticket_id"] == str(a.id)
    assert d["matched_ticket_id"] == str(b.id)  # b is a candidate again: its incident is open
