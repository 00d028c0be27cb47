"""PATCH /api/tickets/{id}: status moves, per-role fields, assignment, SLA, history and events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

MOVES = {
    "open": {"in_progress", "closed"},
    "in_progress": {"resolved", "closed"},
    "resolved": {"closed", "open"},
    "closed": set(),
}
PATHS = {  # how staff bring a fresh ticket to each status
    "open": [],
    "in_progress": ["in_progress"],
    "resolved": ["in_progress", "resolved"],
    "closed": ["closed"],
}


@pytest.fixture
async def world(kit):
    a, mod, admin = kit.person("user"), kit.person("moderator"), kit.person("admin")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], mod, priority="medium")
    return {"a": a, "mod": mod, "admin": admin, "ticket": ticket, "id": ticket["id"]}


async def patch(kit, ticket_id, who, **body):
    return await kit.client.patch(f"/api/tickets/{ticket_id}", json=body, headers=who.headers)


async def bring_to(kit, world, status):
    for step in PATHS[status]:
        r = await patch(kit, world["id"], world["mod"], status=step)
        assert r.status_code == 200, r.text


async def state(kit, ticket_id):
    return await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", __import__("uuid").UUID(ticket_id))


@pytest.mark.parametrize(
    ("start", "target"),
    [(s, t) for s in MOVES for t in MOVES if t != s],
)
async def test_every_status_move_for_staff(kit, world, start, target):
    await bring_to(kit, world, start)
    before = await state(kit, world["id"])
    r = await patch(kit, world["id"], world["mod"], status=target)
    after = await state(kit, world["id"])
    if target in MOVES[start]:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target
        assert after["version"] == before["version"] + 1
    else:
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert dict(after) == dict(before)


@pytest.mark.parametrize(
    ("start", "target", "status"),
    [
        ("open", "closed", 200),
        ("in_progress", "closed", 200),
        ("resolved", "closed", 200),
        ("resolved", "open", 200),  # reopen
        ("open", "in_progress", 403),
        ("in_progress", "resolved", 403),
        ("in_progress", "open", 409),
        ("open", "resolved", 409),
        ("closed", "open", 409),
    ],
)
async def test_creator_may_only_close_or_reopen(kit, world, start, target, status):
    await bring_to(kit, world, start)
    before = await state(kit, world["id"])
    r = await patch(kit, world["id"], world["a"], status=target)
    assert r.status_code == status, r.text
    if status != 200:
        assert dict(await state(kit, world["id"])) == dict(before)
    else:
        assert "helpful_notes" not in r.json()  # the requester's view, even in PATCH answers


@pytest.mark.parametrize(
    ("who", "body"),
    [
        ("a", {"priority": "low"}),
        ("a", {"category": "Billing"}),
        ("a", {"assigned_to": "00000000-0000-0000-0000-000000000001"}),
        ("a", {"status": "closed", "priority": "low"}),
        ("mod", {"assigned_to": "00000000-0000-0000-0000-000000000001"}),
        ("mod", {"status": "in_progress", "assigned_to": "00000000-0000-0000-0000-000000000001"}),
    ],
)
async def test_forbidden_fields_are_403_and_change_nothing(kit, world, who, body):
    before = await state(kit, world["id"])
    r = await kit.client.patch(f"/api/tickets/{world['id']}", json=body, headers=world[who].headers)
    assert r.status_code == 403, r.text
    assert dict(await state(kit, world["id"])) == dict(before)


async def test_noop_changes_nothing(kit, world):
    before = await state(kit, world["id"])
    events_before = len(await kit.events("ticket.updated", world["id"]))
    r = await patch(kit, world["id"], world["mod"], status="open", priority="medium", category="Hardware")
    assert r.status_code == 200
    r2 = await kit.client.patch(f"/api/tickets/{world['id']}", json={}, headers=world["a"].headers)
    assert r2.status_code == 200
    assert dict(await state(kit, world["id"])) == dict(before)
    assert len(await kit.events("ticket.updated", world["id"])) == events_before


async def test_staff_change_emits_event_with_actor_version_changes_and_history(kit, world):
    r = await patch(kit, world["id"], world["mod"], priority="high", category="Network")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["priority"] == "high"
    assert body["category"] == "Network"
    row = await state(kit, world["id"])
    event = (await kit.events("ticket.updated", world["id"]))[-1]["data"]
    assert event["version"] == row["version"] == 3  # created, triaged, this change
    assert event["actor"] == {
        "kind": "user",
        "id": str(world["mod"].id),
        "role": "moderator",
        "name": world["mod"].name,
    }
    assert event["changes"]["priority"] == {"old": "medium", "new": "high"}
    assert event["changes"]["category"] == {"old": "Hardware", "new": "Network"}
    assert "due_at" in event["changes"]
    assert event["ticket"]["priority"] == "high"
    history = await kit.db.fetch(
        "SELECT version, actor_kind, actor_id, changes FROM tickets.ticket_history"
        " WHERE ticket_id = $1 ORDER BY version",
        row["id"],
    )
    assert [h["version"] for h in history] == [2, 3]  # creation is on the ticket row itself
    assert [h["actor_kind"] for h in history] == ["system", "user"]
    assert history[-1]["actor_id"] == world["mod"].id


async def test_priority_change_recomputes_due_at(kit, world, settings):
    row = await state(kit, world["id"])
    assert row["due_at"] == row["created_at"] + timedelta(hours=settings.sla_medium_hours)
    r = await patch(kit, world["id"], world["admin"], priority="high")
    due = datetime.fromisoformat(r.json()["due_at"])
    assert due == row["created_at"] + timedelta(hours=settings.sla_high_hours)
    r = await patch(kit, world["id"], world["admin"], priority="low")
    assert datetime.fromisoformat(r.json()["due_at"]) == row["created_at"] + timedelta(hours=settings.sla_low_hours)


async def test_admin_assigns_to_a_known_moderator(kit, world):
    mod2 = kit.person("moderator")
    # mod2 becomes known to the service by using it
    await kit.client.get("/api/tickets", headers=mod2.headers)
    await kit.create(mod2, title="my own")
    r = await patch(kit, world["id"], world["admin"], assigned_to=str(mod2.id))
    assert r.status_code == 200, r.text
    assert r.json()["assigned_to"] == {"id": str(mod2.id), "name": mod2.name, "email": mod2.email}
    event = (await kit.events("ticket.updated", world["id"]))[-1]["data"]
    assert event["changes"]["assigned_to"]["old"]["id"] == str(world["mod"].id)
    assert event["changes"]["assigned_to"]["new"]["id"] == str(mod2.id)
    # the old assignee lost it, the new one has it
    assert (await kit.client.get(f"/api/tickets/{world['id']}", headers=world["mod"].headers)).status_code == 404
    assert (await kit.client.get(f"/api/tickets/{world['id']}", headers=mod2.headers)).status_code == 200


async def test_admin_may_assign_to_self(kit, world):
    r = await patch(kit, world["id"], world["admin"], assigned_to=str(world["admin"].id))
    assert r.status_code == 200, r.text
    assert r.json()["assigned_to"]["id"] == str(world["admin"].id)


async def test_assigning_unknown_or_non_staff_is_422(kit, world):
    before = await state(kit, world["id"])
    r = await patch(kit, world["id"], world["admin"], assigned_to="00000000-0000-0000-0000-000000000001")
    assert r.status_code == 422
    assert "unknown user" in r.json()["detail"]
    r = await patch(kit, world["id"], world["admin"], assigned_to=str(world["a"].id))  # a plain user
    assert r.status_code == 422
    assert dict(await state(kit, world["id"])) == dict(before)


async def test_human_correction_is_marked_as_user_actor(kit, world):
    await patch(kit, world["id"], world["mod"], category="Printers")
    event = (await kit.events("ticket.updated", world["id"]))[-1]["data"]
    assert event["actor"]["kind"] == "user"
    assert event["changes"] == {"category": {"old": "Hardware", "new": "Printers"}}


async def test_resolution_by_staff_is_in_the_event(kit, world):
    await bring_to(kit, world, "resolved")
    event = (await kit.events("ticket.updated", world["id"]))[-1]["data"]
    assert event["changes"]["status"] == {"old": "in_progress", "new": "resolved"}
    assert event["ticket"]["created_by"]["email"] == world["a"].email
