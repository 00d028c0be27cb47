"""Bad input is a 422 problem and changes nothing; nothing a user sends crashes the service."""

from __future__ import annotations

import pytest

T = "/api/tickets"


@pytest.fixture
async def world(kit):
    a, mod, admin = kit.person("user"), kit.person("moderator"), kit.person("admin")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], mod)
    return {"a": a, "mod": mod, "admin": admin, "id": ticket["id"]}


async def counts(kit):
    return (
        await kit.db.fetchval("SELECT count(*) FROM tickets.tickets"),
        await kit.db.fetchval("SELECT count(*) FROM tickets.comments"),
        await kit.db.fetchval("SELECT max(version) FROM tickets.tickets"),
        await kit.db.fetchval("SELECT count(*) FROM tickets.outbox"),
    )


def assert_problem(r, status=422):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    for leak in ("Traceback", "sqlalchemy", "asyncpg", "SELECT"):
        assert leak not in r.text


@pytest.mark.parametrize(
    "body",
    [
        {"title": "ab", "description": "x"},
        {"title": "   ab   ", "description": "x"},
        {"title": "a" * 201, "description": "x"},
        {"title": "abc", "description": ""},
        {"title": "abc", "description": "   \n\t "},
        {"title": "abc", "description": "x" * 10001},
        {"title": "abc"},
        {"description": "abc"},
        {"title": "abc", "description": "x", "status": "closed"},
        {"title": "abc", "description": "x", "created_by": "00000000-0000-0000-0000-000000000001"},
        {"title": "abc", "description": "x", "priority": "high"},
        {"title": 123, "description": "x"},
        {"title": None, "description": "x"},
        {"title": "abc\x00", "description": "x"},
        {"title": "Help\r\nBcc: victim@example.test", "description": "x"},  # a header in a mail subject
        {"title": "Help\nme", "description": "x"},
        {"title": "invoice\u202efdp.exe", "description": "x"},  # bidi override: reads "invoiceexe.pdf"
        {"title": "abc\u2066def\u2069", "description": "x"},
        {"title": "abc\u200fdef", "description": "x"},
        {"title": "abc\u2028def", "description": "x"},
        {"title": "abc", "description": "x\x00y"},
        ["title", "description"],
        "just a string",
    ],
)
async def test_create_rejects(kit, world, body):
    before = await counts(kit)
    r = await kit.client.post(T, json=body, headers=world["a"].headers)
    assert_problem(r)
    assert await counts(kit) == before


async def test_create_rejects_broken_json_and_huge_bodies(kit, world):
    before = await counts(kit)
    r = await kit.client.post(
        T, content=b'{"title": "abc", ', headers={**world["a"].headers, "content-type": "application/json"}
    )
    assert_problem(r)
    r = await kit.client.post(T, json={"title": "abc", "description": "x" * 70_000}, headers=world["a"].headers)
    assert_problem(r, 413)
    assert await counts(kit) == before


async def test_create_trims_and_accepts_limits(kit, world):
    r = await kit.client.post(
        T, json={"title": "  abc  ", "description": " " + "é" * 10000 + " "}, headers=world["a"].headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "abc"
    assert len(r.json()["description"]) == 10000
    assert r.headers["location"] == f"/api/tickets/{r.json()['id']}"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "done"},
        {"status": None},
        {"priority": "urgent"},
        {"priority": None},
        {"category": ""},
        {"category": "   "},
        {"category": "c" * 65},
        {"category": "a\x00b"},
        {"assigned_to": "not-a-uuid"},
        {"assigned_to": None},
        {"version": 7},
        {"title": "new title"},
        {"triage": {"state": "done"}},
        [],
    ],
)
async def test_patch_rejects(kit, world, body):
    before = await counts(kit)
    r = await kit.client.patch(f"{T}/{world['id']}", json=body, headers=world["admin"].headers)
    assert_problem(r)
    assert await counts(kit) == before


@pytest.mark.parametrize(
    "body",
    [
        {"body": ""},
        {"body": "  "},
        {"body": "x" * 10001},
        {"body": "x", "internal": "maybe"},
        {"body": "x", "author": "me"},
        {"body": "\x00"},
        {},
    ],
)
async def test_comment_rejects(kit, world, body):
    before = await counts(kit)
    r = await kit.client.post(f"{T}/{world['id']}/comments", json=body, headers=world["mod"].headers)
    assert_problem(r)
    assert await counts(kit) == before


@pytest.mark.parametrize("bad_id", ["123", "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --"])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"status": "closed"}),
        ("GET", "/comments", None),
        ("POST", "/comments", {"body": "x"}),
        ("POST", "/retriage", None),
    ],
)
async def test_malformed_ids_are_422(kit, world, bad_id, method, suffix, body):
    r = await kit.client.request(method, f"{T}/{bad_id}{suffix}", json=body, headers=world["admin"].headers)
    assert_problem(r)


async def test_unknown_ids_are_404(kit, world):
    missing = "00000000-0000-0000-0000-000000000042"
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"status": "closed"}),
        ("GET", "/comments", None),
        ("POST", "/comments", {"body": "x"}),
        ("POST", "/retriage", None),
    ]:
        r = await kit.client.request(method, f"{T}/{missing}{suffix}", json=body, headers=world["admin"].headers)
        assert_problem(r, 404)


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "priority=urgent",
        "assigned_to=someone",
        "assigned_to=",
        "overdue=perhaps",
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=garbage",
        "cursor=" + "A" * 300,
        "cursor=WyJub3QtYS1kYXRlIiwgIngiXQ",
        "category=" + "c" * 65,
        "q=",
        "q=" + "x" * 201,
        "q=%00",
        "category=%00",
    ],
)
async def test_list_rejects_malformed_filters(kit, world, query):
    r = await kit.client.get(f"{T}?{query}", headers=world["admin"].headers)
    assert_problem(r)


async def test_comment_cursor_garbage_is_422(kit, world):
    r = await kit.client.get(f"{T}/{world['id']}/comments?cursor=%%%", headers=world["admin"].headers)
    assert_problem(r)
    r = await kit.client.get(f"{T}/{world['id']}/comments?limit=1000", headers=world["admin"].headers)
    assert_problem(r)


@pytest.mark.parametrize("q", ["'", "a & b | !c", "foo:*", "(((", "\\", "ünïcödé", "%_", "a'b:*&|!()<->"])
async def test_search_text_never_breaks_the_query(kit, world, q):
    r = await kit.client.get(T, params={"q": q}, headers=world["admin"].headers)
    assert r.status_code == 200, r.text


async def test_nul_in_token_name_is_stored_without_it(kit, world):
    import uuid

    from helpdesk_testing.plugin import bearer

    user_id = uuid.uuid4()
    token = kit.jwt_keys.token(role="user", user_id=user_id, name="Ev\x00il", email="e\x00@x.test")
    r = await kit.client.post(T, json={"title": "abc", "description": "d"}, headers=bearer(token))
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == {"id": str(user_id), "name": "Evil", "email": "e@x.test"}
    r = await kit.client.post(f"{T}/{r.json()['id']}/comments", json={"body": "hi"}, headers=bearer(token))
    assert r.status_code == 201, r.text
