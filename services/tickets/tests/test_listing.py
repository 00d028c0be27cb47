"""GET /api/tickets: newest first, keyset pages, every filter, overdue, search."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest


async def all_pages(kit, who, query="", limit=3):
    seen, cursor, pages = [], None, 0
    while True:
        params = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "") + (f"&{query}" if query else "")
        r = await kit.client.get(f"/api/tickets?{params}", headers=who.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        seen += [t["id"] for t in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


async def test_pages_newest_first_without_gaps_or_repeats(kit):
    a = kit.person()
    made = [(await kit.create(a, title=f"ticket {i}"))["id"] for i in range(7)]
    # two share a creation instant: the id breaks the tie
    same = datetime(2026, 1, 1, tzinfo=UTC)
    await kit.db.execute(
        "UPDATE tickets.tickets SET created_at = $1 WHERE id = ANY($2::uuid[])",
        same,
        [uuid.UUID(made[2]), uuid.UUID(made[3])],
    )
    order = [
        r["id"] for r in await kit.db.fetch("SELECT id::text FROM tickets.tickets ORDER BY created_at DESC, id DESC")
    ]
    seen, pages = await all_pages(kit, a)
    assert seen == order
    assert pages == 3
    assert set(seen) == set(made)
    seen, pages = await all_pages(kit, a, limit=7)
    assert (seen, pages) == (order, 1)


async def test_default_limit_is_50(kit):
    a = kit.person()
    await kit.db.execute(
        """INSERT INTO tickets.tickets (id, title, description, created_by_id, created_by_name, created_by_email,
                                        created_at, updated_at)
           SELECT gen_random_uuid(), 'bulk ' || g, 'd', $1, 'A', 'a@x', now() - g * interval '1 s', now()
           FROM generate_series(1, 60) g""",
        a.id,
    )
    r = await kit.client.get("/api/tickets", headers=a.headers)
    assert len(r.json()["items"]) == 50
    assert r.json()["next_cursor"]
    r = await kit.client.get(f"/api/tickets?cursor={r.json()['next_cursor']}", headers=a.headers)
    assert len(r.json()["items"]) == 10
    assert r.json()["next_cursor"] is None


@pytest.fixture
async def spread(kit):
    """Tickets in various states, priorities, categories and assignees, plus who made them."""
    a, b = kit.person(), kit.person()
    mod1, mod2, admin = kit.person("moderator"), kit.person("moderator"), kit.person("admin")
    t = {}
    t["a_high_hw"] = await kit.create(a, title="Laptop battery swollen", description="It bulges")
    await kit.triage(t["a_high_hw"]["id"], mod1, priority="high", category="Hardware")
    t["a_low_net"] = await kit.create(a, title="Wifi slow", description="In the kitchen only")
    await kit.triage(t["a_low_net"]["id"], mod2, priority="low", category="Network")
    t["b_med_hw"] = await kit.create(b, title="Mouse double clicks", description="Left button")
    await kit.triage(t["b_med_hw"]["id"], mod1, priority="medium", category="Hardware")
    t["b_untriaged"] = await kit.create(b, title="Cannot print invoices", description="Billing printer")
    await kit.client.patch(f"/api/tickets/{t['b_med_hw']['id']}", json={"status": "in_progress"}, headers=mod1.headers)
    return {"a": a, "b": b, "mod1": mod1, "mod2": mod2, "admin": admin, "t": t}


def ids(r):
    assert r.status_code == 200, r.text
    return {t["id"] for t in r.json()["items"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", {"a_high_hw", "a_low_net", "b_untriaged"}),
        ("status=in_progress", {"b_med_hw"}),
        ("status=closed", set()),
        ("priority=high", {"a_high_hw"}),
        ("priority=medium", {"b_med_hw"}),
        ("category=Hardware", {"a_high_hw", "b_med_hw"}),
        ("category=hardware", set()),
        ("status=open&category=Hardware", {"a_high_hw"}),
        ("q=wifi", {"a_low_net"}),
        ("q=WIFI kitch", {"a_low_net"}),
        ("q=printer", {"b_untriaged"}),
        ("q=bulges", {"a_high_hw"}),
        ("q=nothing-like-this", set()),
    ],
)
async def test_filters_for_admin(kit, spread, query, expected):
    r = await kit.client.get(f"/api/tickets?{query}", headers=spread["admin"].headers)
    assert ids(r) == {spread["t"][name]["id"] for name in expected}


async def test_assigned_to_filters(kit, spread):
    t, mod1, admin = spread["t"], spread["mod1"], spread["admin"]
    r = await kit.client.get("/api/tickets?assigned_to=me", headers=mod1.headers)
    assert ids(r) == {t["a_high_hw"]["id"], t["b_med_hw"]["id"]}
    r = await kit.client.get(f"/api/tickets?assigned_to={spread['mod2'].id}", headers=admin.headers)
    assert ids(r) == {t["a_low_net"]["id"]}
    # filters narrow what one may see, never widen it
    r = await kit.client.get(f"/api/tickets?assigned_to={mod1.id}", headers=spread["a"].headers)
    assert ids(r) == {t["a_high_hw"]["id"]}
    r = await kit.client.get("/api/tickets?q=mouse", headers=spread["a"].headers)
    assert ids(r) == set()


async def test_overdue_lists_past_due_and_unresolved(kit, spread):
    t, admin, mod1 = spread["t"], spread["admin"], spread["mod1"]
    r = await kit.client.get("/api/tickets?overdue=true", headers=admin.headers)
    assert ids(r) == set()
    # push two tickets' creation back in time: past their SLA
    past = datetime.now(UTC) - timedelta(days=10)
    for name in ("a_high_hw", "b_med_hw", "a_low_net"):
        await kit.db.execute(
            "UPDATE tickets.tickets SET created_at = $1::timestamptz,"
            " due_at = $1::timestamptz + interval '4 hours' WHERE id = $2",
            past,
            uuid.UUID(t[name]["id"]),
        )
    # a resolved one is not overdue any more
    await kit.client.patch(f"/api/tickets/{t['b_med_hw']['id']}", json={"status": "resolved"}, headers=mod1.headers)
    r = await kit.client.get("/api/tickets?overdue=true", headers=admin.headers)
    assert ids(r) == {t["a_high_hw"]["id"], t["a_low_net"]["id"]}
    r = await kit.client.get("/api/tickets?overdue=true", headers=mod1.headers)
    assert ids(r) == {t["a_high_hw"]["id"]}
    r = await kit.client.get("/api/tickets?overdue=false", headers=admin.headers)
    assert len(ids(r)) == 4


async def test_list_uses_the_indexes(kit, spread):
    """With the planner's hand forced off sequential scans, the page queries stay on indexes."""
    plans = []
    for where in (
        "true",
        f"created_by_id = '{spread['a'].id}'",
        f"(created_by_id = '{spread['mod1'].id}' OR assigned_to_id = '{spread['mod1'].id}')",
        "status = 'open'",
        "status IN ('open', 'in_progress') AND due_at < now()",
        "search @@ to_tsquery('simple', 'wifi:*')",
    ):
        async with kit.db.transaction():
            await kit.db.execute("SET LOCAL enable_seqscan = off")
            plan = await kit.db.fetchval(
                f"EXPLAIN SELECT * FROM tickets.tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 51"  # noqa: S608
            )
            plans.append(plan)
    for plan in plans:
        assert "Seq Scan" not in plan, plan
