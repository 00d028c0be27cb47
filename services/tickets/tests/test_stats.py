"""GET /api/stats: the figures against known tickets, who sees which, and bad ranges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

NOW = datetime.now(UTC)
RANGE = "from=2026-01-01&to=2026-01-07"


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


async def seed(
    kit: Any,
    creator: Any,
    created_at: datetime,
    *,
    status: str = "open",
    priority: str | None = None,
    category: str | None = None,
    assignee: Any = None,
    triage_state: str = "done",
    triaged_after: float | None = None,
    resolved_after: float | None = None,
    due_at: datetime | None = None,
) -> uuid.UUID:
    ticket_id = uuid.uuid4()
    await kit.db.execute(
        """INSERT INTO tickets.tickets (id, title, description, status, priority, category, created_by_id,
               created_by_name, created_by_email, assigned_to_id, assigned_to_name, assigned_to_email,
               due_at, created_at, updated_at, triage_state, triaged_at, resolved_at)
           VALUES ($1, 'seeded', 'seeded', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)""",
        ticket_id,
        status,
        priority,
        category,
        creator.id,
        creator.name,
        creator.email,
        assignee.id if assignee else None,
        assignee.name if assignee else None,
        assignee.email if assignee else None,
        due_at,
        created_at,
        triage_state,
        created_at + timedelta(seconds=triaged_after) if triaged_after is not None else None,
        created_at + timedelta(seconds=resolved_after) if resolved_after is not None else None,
    )
    return ticket_id


@pytest.fixture
async def world(kit: Any) -> dict[str, Any]:
    user, admin = kit.person(), kit.person("admin")
    mod1, mod2 = kit.person("moderator", "Mia"), kit.person("moderator", "Bo")
    for person in (mod1, mod2):
        await kit.db.execute(
            "INSERT INTO tickets.people (id, name, email, role) VALUES ($1, $2, $3, 'moderator')",
            person.id,
            person.name,
            person.email,
        )
    past, future = NOW - timedelta(hours=1), NOW + timedelta(days=1)
    s = kit, user
    await seed(
        *s,
        at(2, 10),
        status="closed",
        priority="high",
        category="Billing",
        assignee=mod1,
        triaged_after=10,
        resolved_after=3600,
    )
    await seed(
        *s,
        at(2, 11),
        status="resolved",
        priority="medium",
        category="Billing",
        assignee=mod1,
        triaged_after=20,
        resolved_after=3 * 3600,
    )
    await seed(*s, at(3), priority="high", category="Network", assignee=mod2, triaged_after=30, due_at=past)
    await seed(
        *s,
        at(5),
        status="in_progress",
        priority="low",
        category="Network",
        assignee=mod1,
        triaged_after=40,
        due_at=future,
    )
    await seed(*s, at(5, 12), triage_state="pending")
    waiting_since = at(6)
    await seed(*s, waiting_since, priority="medium", category="Billing", triage_state="waiting", triaged_after=50)
    # outside the range: only the figures of now (open, overdue, load) count it
    await seed(
        *s,
        datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
        priority="high",
        category="Network",
        assignee=mod2,
        triaged_after=5,
        due_at=past,
    )
    return {"user": user, "admin": admin, "mod1": mod1, "mod2": mod2, "waiting_since": waiting_since}


async def stats(kit: Any, who: Any, query: str = RANGE) -> dict[str, Any]:
    r = await kit.client.get(f"/api/stats?{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_admin_figures_match_the_tickets(kit, world):
    letter = uuid.uuid4()
    await kit.db.execute(
        "INSERT INTO tickets.dead_letters (id, queue, event_type, error) VALUES ($1, 'tickets', 'ticket.triaged', 'x')",
        letter,
    )
    try:
        body = await stats(kit, world["admin"])
    finally:
        await kit.db.execute("DELETE FROM tickets.dead_letters WHERE id = $1", letter)
    mod1, mod2 = world["mod1"], world["mod2"]
    assert body["scope"] == "all"
    assert (body["from"], body["to"]) == ("2026-01-01", "2026-01-07")
    assert body["created"] == 6
    assert [(d["day"][-2:], d["count"]) for d in body["per_day"]] == [
        ("01", 0),
        ("02", 2),
        ("03", 1),
        ("04", 0),
        ("05", 2),
        ("06", 1),
        ("07", 0),
    ]
    assert body["by_status"] == {"open": 3, "in_progress": 1, "resolved": 1, "closed": 1}
    assert body["by_priority"] == {"high": 2, "medium": 2, "low": 1, "none": 1}
    assert body["by_category"] == [
        {"category": "Billing", "count": 3},
        {"category": "Network", "count": 2},
        {"category": None, "count": 1},
    ]
    # interpolated percentiles: triage 10..50 s, resolve 1 h and 3 h
    assert body["time_to_triage"] == {"count": 5, "p50_seconds": 30.0, "p90_seconds": pytest.approx(46.0)}
    assert body["time_to_resolve"] == {"count": 2, "p50_seconds": 7200.0, "p90_seconds": pytest.approx(10080.0)}
    assert body["open"] == {"open": 4, "in_progress": 1}
    assert body["overdue"] == {"total": 2, "by_priority": {"high": 2, "medium": 0, "low": 0, "none": 0}}
    assert body["load"] == [
        {"id": str(mod2.id), "name": "Bo", "email": mod2.email, "open": 2, "in_progress": 0, "overdue": 2},
        {"id": str(mod1.id), "name": "Mia", "email": mod1.email, "open": 0, "in_progress": 1, "overdue": 0},
    ]
    assert body["triage"]["pending"] == 1
    assert body["triage"]["waiting"] == 1
    assert body["triage"]["failed"] == 0
    assert datetime.fromisoformat(body["triage"]["oldest_waiting_at"]) == world["waiting_since"]
    assert body["dead_letters"] == {"open": 1}


async def test_a_moderator_sees_only_the_tickets_assigned_to_them(kit, world):
    mod1 = world["mod1"]
    body = await stats(kit, mod1)
    assert body["scope"] == "assigned_to_me"
    assert body["created"] == 3
    assert [d["count"] for d in body["per_day"]] == [0, 2, 0, 0, 1, 0, 0]
    assert body["by_status"] == {"open": 0, "in_progress": 1, "resolved": 1, "closed": 1}
    assert body["by_category"] == [{"category": "Billing", "count": 2}, {"category": "Network", "count": 1}]
    assert body["time_to_triage"]["count"] == 3
    assert body["time_to_triage"]["p50_seconds"] == 20.0
    assert body["open"] == {"open": 0, "in_progress": 1}
    assert body["overdue"]["total"] == 0
    assert [m["id"] for m in body["load"]] == [str(mod1.id)]
    assert body["triage"] == {"pending": 0, "waiting": 0, "failed": 0, "oldest_waiting_at": None}
    assert body["dead_letters"] is None
    other = await stats(kit, world["mod2"])
    assert (other["created"], other["overdue"]["total"]) == (1, 2)
    assert [m["id"] for m in other["load"]] == [str(world["mod2"].id)]


async def test_a_user_gets_403_and_no_token_401(kit, world):
    r = await kit.client.get(f"/api/stats?{RANGE}", headers=world["user"].headers)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await kit.client.get("/api/stats")).status_code == 401


async def test_defaults_to_the_last_30_days(kit, world):
    body = await stats(kit, world["admin"], "")
    today = datetime.now(UTC).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert len(body["per_day"]) == 30
    body = await stats(kit, world["admin"], "from=2026-01-03")
    assert (body["from"], body["to"], body["created"]) == ("2026-01-03", "2026-02-01", 4)


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-13-01",
        "from=yesterday",
        "to=2026-01-01T10:30:00Z",
        "from=2026-01-08&to=2026-01-07",
        "from=2025-01-01&to=2026-01-02",
        "form=2026-01-01",
        "from=",
    ],
)
async def test_bad_ranges_are_422_problems(kit, world, query):
    r = await kit.client.get(f"/api/stats?{query}", headers=world["admin"].headers)
    assert r.status_code == 422, (query, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 422


async def test_resolved_at_follows_the_status(kit):
    user, mod = kit.person(), kit.person("moderator")
    ticket = await kit.create(user)
    await kit.triage(ticket["id"], mod)

    async def move(who: Any, status: str) -> datetime | None:
        r = await kit.client.patch(f"/api/tickets/{ticket['id']}", json={"status": status}, headers=who.headers)
        assert r.status_code == 200, r.text
        return await kit.db.fetchval("SELECT resolved_at FROM tickets.tickets WHERE id = $1", uuid.UUID(ticket["id"]))

    assert await move(mod, "in_progress") is None
    resolved = await move(mod, "resolved")
    assert resolved is not None
    assert await move(user, "closed") == resolved  # closing a resolved ticket keeps when it was resolved
    ticket = await kit.create(user, title="Second printer")
    await kit.triage(ticket["id"], mod)
    assert await move(mod, "in_progress") is None
    assert await move(mod, "resolved") is not None
    assert await move(user, "open") is None  # reopened: no longer resolved
