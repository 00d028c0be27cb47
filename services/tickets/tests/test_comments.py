"""Comments: who may write, internal notes for staff only, oldest first with pages."""

from __future__ import annotations

import pytest


@pytest.fixture
async def world(kit):
    a, b, mod, mod2, admin = (
        kit.person(),
        kit.person(),
        kit.person("moderator"),
        kit.person("moderator"),
        kit.person("admin"),
    )
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], mod)
    return {"a": a, "b": b, "mod": mod, "mod2": mod2, "admin": admin, "id": ticket["id"]}


async def post(kit, world, who, body, internal=None):
    payload = {"body": body} if internal is None else {"body": body, "internal": internal}
    return await kit.client.post(f"/api/tickets/{world['id']}/comments", json=payload, headers=world[who].headers)


async def bodies(kit, world, who):
    r = await kit.client.get(f"/api/tickets/{world['id']}/comments", headers=world[who].headers)
    assert r.status_code == 200, r.text
    return [c["body"] for c in r.json()["items"]]


async def test_internal_notes_are_hidden_from_the_requester(kit, world):
    r = await post(kit, world, "a", "  It still smokes  ")
    assert r.status_code == 201
    c = r.json()
    assert c["body"] == "It still smokes"
    assert c["internal"] is False
    assert c["author"] == {"id": str(world["a"].id), "name": world["a"].name, "email": world["a"].email}
    assert (await post(kit, world, "mod", "Likely the PSU", internal=True)).status_code == 201
    assert (await post(kit, world, "mod", "On my way")).status_code == 201
    assert (await post(kit, world, "admin", "Escalate if it repeats", internal=True)).status_code == 201
    everything = ["It still smokes", "Likely the PSU", "On my way", "Escalate if it repeats"]
    assert await bodies(kit, world, "mod") == everything
    assert await bodies(kit, world, "admin") == everything
    assert await bodies(kit, world, "a") == ["It still smokes", "On my way"]


async def test_requester_may_not_write_internal_notes(kit, world):
    r = await post(kit, world, "a", "secret?", internal=True)
    assert r.status_code == 403
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments") == 0


async def test_others_cannot_comment_or_read(kit, world):
    for who in ("b", "mod2"):
        assert (await post(kit, world, who, "hi")).status_code == 404
        r = await kit.client.get(f"/api/tickets/{world['id']}/comments", headers=world[who].headers)
        assert r.status_code == 404
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments") == 0


async def test_comments_page_oldest_first(kit, world):
    for i in range(5):
        await post(kit, world, "a", f"c{i}")
    await post(kit, world, "mod", "internal", internal=True)
    seen, cursor = [], None
    while True:
        url = f"/api/tickets/{world['id']}/comments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = await kit.client.get(url, headers=world["a"].headers)
        seen += [c["body"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in range(5)]


async def test_commenting_is_not_a_ticket_change(kit, world):
    before = await kit.db.fetchval("SELECT version FROM tickets.tickets")
    await post(kit, world, "a", "hello")
    assert await kit.db.fetchval("SELECT version FROM tickets.tickets") == before
