"""Who sees and may touch which ticket: user A (creator), user B, the assigned moderator,
another moderator, an admin and an anonymous caller, over every ticket route."""

from __future__ import annotations

import pytest

STAFF_FIELDS = {"related_skills", "helpful_notes"}
STAFF_TRIAGE = {"summary", "provider", "model", "confidence", "assignment_reason", "triaged_at"}


@pytest.fixture
async def world(kit):
    a, b = kit.person("user"), kit.person("user")
    mod, mod2, admin = kit.person("moderator"), kit.person("moderator"), kit.person("admin")
    ticket = await kit.create(a, title="VPN drops", description="Every hour")
    await kit.triage(ticket["id"], mod)
    return {"a": a, "b": b, "mod": mod, "mod2": mod2, "admin": admin, "ticket": ticket}


def is_staff_view(body) -> bool:
    return STAFF_FIELDS <= body.keys() and STAFF_TRIAGE <= body["triage"].keys()


def is_requester_view(body) -> bool:
    return not (STAFF_FIELDS & body.keys()) and set(body["triage"]) == {"state"}


@pytest.mark.parametrize(
    ("who", "status", "view"),
    [("a", 200, "requester"), ("b", 404, None), ("mod", 200, "staff"), ("mod2", 404, None), ("admin", 200, "staff")],
)
async def test_get_one(kit, world, who, status, view):
    r = await kit.client.get(f"/api/tickets/{world['ticket']['id']}", headers=world[who].headers)
    assert r.status_code == status, r.text
    if status == 404:
        assert r.headers["content-type"] == "application/problem+json"
        assert "VPN" not in r.text
    elif view == "staff":
        body = r.json()
        assert is_staff_view(body)
        assert body["helpful_notes"] == "Unplug it first"
        assert body["triage"]["assignment_reason"] == "skills: printers"
    else:
        assert is_requester_view(r.json())


@pytest.mark.parametrize(("who", "count"), [("a", 1), ("b", 0), ("mod", 1), ("mod2", 0), ("admin", 1)])
async def test_list(kit, world, who, count):
    r = await kit.client.get("/api/tickets", headers=world[who].headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == count
    for item in items:
        assert is_staff_view(item) if who in ("mod", "admin") else is_requester_view(item)


@pytest.mark.parametrize(("who", "status"), [("a", 403), ("b", 404), ("mod", 200), ("mod2", 404), ("admin", 200)])
async def test_patch_priority(kit, world, who, status):
    r = await kit.client.patch(
        f"/api/tickets/{world['ticket']['id']}", json={"priority": "low"}, headers=world[who].headers
    )
    assert r.status_code == status, r.text


@pytest.mark.parametrize(("who", "status"), [("a", 201), ("b", 404), ("mod", 201), ("mod2", 404), ("admin", 201)])
async def test_post_comment(kit, world, who, status):
    r = await kit.client.post(
        f"/api/tickets/{world['ticket']['id']}/comments", json={"body": "hello"}, headers=world[who].headers
    )
    assert r.status_code == status, r.text


@pytest.mark.parametrize(("who", "status"), [("a", 200), ("b", 404), ("mod", 200), ("mod2", 404), ("admin", 200)])
async def test_list_comments(kit, world, who, status):
    r = await kit.client.get(f"/api/tickets/{world['ticket']['id']}/comments", headers=world[who].headers)
    assert r.status_code == status, r.text


@pytest.mark.parametrize(("who", "status"), [("a", 403), ("b", 403), ("mod", 403), ("mod2", 403), ("admin", 202)])
async def test_retriage(kit, world, who, status):
    r = await kit.client.post(f"/api/tickets/{world['ticket']['id']}/retriage", headers=world[who].headers)
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/tickets", {"title": "abc", "description": "d"}),
        ("GET", "/api/tickets", None),
        ("GET", "/api/tickets/{id}", None),
        ("PATCH", "/api/tickets/{id}", {"status": "closed"}),
        ("POST", "/api/tickets/{id}/comments", {"body": "x"}),
        ("GET", "/api/tickets/{id}/comments", None),
        ("POST", "/api/tickets/{id}/retriage", None),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", "Basic abc"])
async def test_anonymous_and_bad_tokens_get_401(kit, world, method, path, body, auth):
    headers = {"Authorization": auth} if auth else {}
    r = await kit.client.request(method, path.format(id=world["ticket"]["id"]), json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 1
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments") == 0


async def test_token_from_another_key_is_refused(kit, world):
    from helpdesk_testing.plugin import JwtKeys, bearer
    from shared.jwt import generate_keypair

    other = JwtKeys(*generate_keypair())
    token = other.token(role="admin")
    r = await kit.client.get("/api/tickets", headers=bearer(token))
    assert r.status_code == 401


async def test_moderator_who_created_a_ticket_is_its_requester(kit):
    mod, other_mod = kit.person("moderator"), kit.person("moderator")
    ticket = await kit.create(mod)
    await kit.triage(ticket["id"], other_mod)
    r = await kit.client.get(f"/api/tickets/{ticket['id']}", headers=mod.headers)
    assert r.status_code == 200
    assert is_requester_view(r.json())
    r = await kit.client.patch(f"/api/tickets/{ticket['id']}", json={"priority": "low"}, headers=mod.headers)
    assert r.status_code == 403
    r = await kit.client.post(
        f"/api/tickets/{ticket['id']}/comments", json={"body": "x", "internal": True}, headers=mod.headers
    )
    assert r.status_code == 403
    # the assignee sees it as staff, and it is in their list
    r = await kit.client.get("/api/tickets?assigned_to=me", headers=other_mod.headers)
    assert [t["id"] for t in r.json()["items"]] == [ticket["id"]]
    assert is_staff_view(r.json()["items"][0])


async def test_user_assigned_by_mistake_sees_nothing_more(kit):
    # a role lowered to user after assignment: the token's role decides, not the old assignment
    a, former_mod = kit.person("user"), kit.person("moderator")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], former_mod)
    demoted = kit.jwt_keys.token(role="user", user_id=former_mod.id)
    from helpdesk_testing.plugin import bearer

    r = await kit.client.get(f"/api/tickets/{ticket['id']}", headers=bearer(demoted))
    assert r.status_code == 404
    r = await kit.client.get("/api/tickets", headers=bearer(demoted))
    assert r.json()["items"] == []


async def test_moderator_list_has_created_and_assigned(kit):
    mod, a = kit.person("moderator"), kit.person("user")
    own = await kit.create(mod, title="My own laptop")
    assigned = await kit.create(a, title="Their phone")
    await kit.create(a, title="Not for this moderator")
    await kit.triage(assigned["id"], mod)
    r = await kit.client.get("/api/tickets", headers=mod.headers)
    assert [t["id"] for t in r.json()["items"]] == [assigned["id"], own["id"]]
