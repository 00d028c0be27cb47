"""tickets.stats_days (migration 0010) against the live computation: after creates, triage,
resolve, reopen, a ticket on the other side of midnight, a fold racing a writer, and exact
percentiles over durations spread across many histogram buckets."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
from tickets import rollups
from tickets.stats_queries import StatsScope

TODAY = datetime.now(UTC).date()
MIDNIGHT = datetime.combine(TODAY, time.min, tzinfo=UTC)
YESTERDAY = (MIDNIGHT - timedelta(days=1), MIDNIGHT)
TODAY_ONLY = (MIDNIGHT, MIDNIGHT + timedelta(days=1))
BOTH = (MIDNIGHT - timedelta(days=1), MIDNIGHT + timedelta(days=1))


async def compare(kit: Any, span: tuple[datetime, datetime] = BOTH) -> rollups.RangeFigures:
    """The rollup's figures for the span, asserted equal to the live ones."""
    async with kit.app.state.runtime.sessions() as session, session.begin():
        rolled = await rollups.range_figures(session, StatsScope(), start=span[0], end=span[1])
        live = await rollups.live_figures(session, StatsScope(), start=span[0], end=span[1])
    assert rolled == live
    return rolled


async def insert(conn: asyncpg.Connection, created_at: datetime, **fields: Any) -> uuid.UUID:
    ticket_id, creator = uuid.uuid4(), uuid.uuid4()
    columns = {"status": "open", "priority": None, "category": None, "triaged_at": None, "resolved_at": None}
    columns.update(fields)
    await conn.execute(
        """INSERT INTO tickets.tickets (id, title, description, status, priority, category, created_by_id,
               created_by_name, created_by_email, created_at, updated_at, triaged_at, resolved_at)
           VALUES ($1, 'seeded', 'seeded', $2, $3, $4, $5, 'Someone', 'someone@example.test', $6, $6, $7, $8)""",
        ticket_id,
        columns["status"],
        columns["priority"],
        columns["category"],
        creator,
        created_at,
        columns["triaged_at"],
        columns["resolved_at"],
    )
    return ticket_id


async def test_the_rollup_follows_a_ticket_through_its_life(kit):
    user, mod = kit.person(), kit.person("moderator")
    ids = [(await kit.create(user, title=f"Printer {i}"))["id"] for i in range(3)]
    figures = await compare(kit)
    assert figures.by_status == {"open": 3}
    assert figures.per_day == {TODAY.isoformat(): 3}

    # one ticket came in a second before midnight: its figures stay on yesterday whatever happens next
    late = MIDNIGHT - timedelta(seconds=1)
    await kit.db.execute("UPDATE tickets.tickets SET created_at = $1 WHERE id = $2", late, uuid.UUID(ids[0]))
    assert (await compare(kit, YESTERDAY)).per_day == {(TODAY - timedelta(days=1)).isoformat(): 1}
    assert (await compare(kit, TODAY_ONLY)).per_day == {TODAY.isoformat(): 2}

    for ticket_id, priority, category in zip(
        ids, ("high", "low", "high"), ("Hardware", "Network", "Billing"), strict=True
    ):
        await kit.triage(ticket_id, mod, priority=priority, category=category)
    figures = await compare(kit)
    assert figures.by_priority == {"high": 2, "low": 1}
    assert figures.durations.triaged == 3

    async def move(ticket_id: str, who: Any, status: str) -> None:
        r = await kit.client.patch(f"/api/tickets/{ticket_id}", json={"status": status}, headers=who.headers)
        assert r.status_code == 200, r.text

    await move(ids[0], mod, "in_progress")
    await move(ids[0], mod, "resolved")
    await move(ids[1], mod, "in_progress")
    await move(ids[1], mod, "resolved")
    figures = await compare(kit)
    assert figures.by_status == {"open": 1, "resolved": 2}
    assert figures.durations.resolved == 2
    assert (await compare(kit, YESTERDAY)).by_status == {"resolved": 1}

    await move(ids[0], user, "open")  # reopened: no longer counts as resolved
    await move(ids[1], user, "closed")
    figures = await compare(kit)
    assert figures.by_status == {"open": 2, "closed": 1}
    assert figures.durations.resolved == 1
    await compare(kit, YESTERDAY)
    await compare(kit, TODAY_ONLY)

    await kit.db.execute("DELETE FROM tickets.tickets WHERE id = $1", uuid.UUID(ids[2]))
    assert (await compare(kit)).by_status == {"open": 1, "closed": 1}


async def test_reading_folds_the_deltas_into_one_row_per_figure(kit):
    for hour in range(5):
        ticket_id = await insert(kit.db, MIDNIGHT + timedelta(hours=hour), priority="low")
        await kit.db.execute("UPDATE tickets.tickets SET priority = 'high' WHERE id = $1", ticket_id)
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.stats_days WHERE NOT folded") > 3
    assert (await compare(kit)).by_priority == {"high": 5}
    rows = await kit.db.fetch("SELECT kind, key, n, folded FROM tickets.stats_days ORDER BY kind, key")
    assert [(r["kind"], r["key"], r["n"], r["folded"]) for r in rows] == [
        ("category", None, 5, True),
        ("priority", "high", 5, True),
        ("status", "open", 5, True),
    ]


async def test_a_fold_never_loses_a_writer_that_commits_after_it(kit, db):
    await insert(kit.db, MIDNIGHT + timedelta(hours=1))
    writer = await asyncpg.connect(db.admin_url())
    try:
        async with writer.transaction():
            await insert(writer, MIDNIGHT + timedelta(hours=2), status="closed")
            await compare(kit)  # folds while the writer's deltas are not yet committed
        figures = await compare(kit)
    finally:
        await writer.close()
    assert figures.by_status == {"open": 1, "closed": 1}


async def test_percentiles_are_exact_across_buckets(kit):
    rng = random.Random(14)
    rows = []
    for i in range(300):
        created = MIDNIGHT - timedelta(days=1) + timedelta(seconds=rng.uniform(0, 2 * 86400 - 1))
        triage = rng.choice([0.0, -3.0, 0.4, 7.0, 7.0]) if i % 10 == 0 else rng.lognormvariate(2.0, 1.5)
        resolved = rng.random() < 0.6
        rows.append(
            (
                created,
                "closed" if resolved else "open",
                created + timedelta(seconds=triage),
                created + timedelta(seconds=rng.lognormvariate(9, 2)) if resolved else None,
            )
        )
    await kit.db.executemany(
        """INSERT INTO tickets.tickets (id, title, description, status, created_by_id, created_by_name,
               created_by_email, created_at, updated_at, triaged_at, resolved_at)
           VALUES (gen_random_uuid(), 't', 'd', $1, gen_random_uuid(), 'S', 's@example.test', $2, $2, $3, $4)""",
        [(status, created, triaged, resolved) for created, status, triaged, resolved in rows],
    )
    for span in (BOTH, YESTERDAY, TODAY_ONLY):
        figures = await compare(kit, span)
        assert figures.durations.triaged > 100
        assert figures.durations.triage_p50 is not None
    # one ticket per range: p50 = p90 = its own duration
    ticket = await insert(kit.db, MIDNIGHT + timedelta(days=3), triaged_at=MIDNIGHT + timedelta(days=3, seconds=42))
    assert ticket
    single = await compare(kit, (MIDNIGHT + timedelta(days=3), MIDNIGHT + timedelta(days=4)))
    assert (single.durations.triage_p50, single.durations.triage_p90) == (42.0, 42.0)


async def test_the_background_fold_keeps_the_deltas_few(kit):
    for hour in range(3):
        await insert(kit.db, MIDNIGHT + timedelta(hours=hour), category="Billing")
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.stats_days WHERE NOT folded") == 9
    task = asyncio.create_task(rollups.fold_forever(kit.app.state.runtime.sessions, 0.01))
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not await kit.db.fetchval("SELECT count(*) FROM tickets.stats_days WHERE NOT folded"):
                break
    finally:
        task.cancel()
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.stats_days WHERE NOT folded") == 0
    assert (await compare(kit)).by_category == {"Billing": 3}


async def test_truncate_empties_the_rollup(kit):
    await insert(kit.db, MIDNIGHT + timedelta(hours=1))
    await kit.db.execute("TRUNCATE tickets.tickets CASCADE")
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.stats_days") == 0
    assert (await compare(kit)).per_day == {}


async def test_durations_fall_back_to_the_tickets_when_the_rollup_drifted(kit):
    for minute in range(4):
        await insert(kit.db, MIDNIGHT + timedelta(minutes=minute), triaged_at=MIDNIGHT + timedelta(minutes=minute + 1))
    await kit.db.execute("ALTER TABLE tickets.tickets DISABLE TRIGGER USER")
    try:
        await kit.db.execute("DELETE FROM tickets.tickets WHERE created_at < $1", MIDNIGHT + timedelta(minutes=2))
    finally:
        await kit.db.execute("ALTER TABLE tickets.tickets ENABLE TRIGGER USER")
    async with kit.app.state.runtime.sessions() as session, session.begin():
        rolled = await rollups.range_figures(session, StatsScope(), start=TODAY_ONLY[0], end=TODAY_ONLY[1])
        live = await rollups.live_figures(session, StatsScope(), start=TODAY_ONLY[0], end=TODAY_ONLY[1])
    assert rolled.durations == live.durations
    assert live.durations.triaged == 2
