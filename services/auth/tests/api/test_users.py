"""The admin routes: GET /api/auth/users and POST /api/auth/update-user, and the revocations they cause."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from helpdesk_testing.plugin import JwtKeys, bearer

from ..helpers import PASSWORD, Db, assert_problem, login, make_user, signup, verify_by_link

# --- users (admin) --------------------------------------------------------------------------


async def test_users_is_for_admins_only(client, db: Db, jwt_keys: JwtKeys):
    user = await make_user(db, jwt_keys, "plain@example.test")
    moderator = await make_user(db, jwt_keys, "mod@example.test", "moderator")
    assert_problem(await client.get("/api/auth/users", headers=user), 403)
    assert_problem(await client.get("/api/auth/users", headers=moderator), 403)
    assert_problem(await client.get("/api/auth/users"), 401)


async def test_users_lists_filters_and_refuses_bad_queries(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "boss@example.test", "admin")
    await make_user(db, jwt_keys, "mod1@example.test", "moderator")
    await signup(client, "carol@example.test", name="Carol 100%_real")
    await signup(client, "dave@example.test", name="Dave")
    everyone = await client.get("/api/auth/users", headers=admin)
    assert everyone.status_code == 200
    body = everyone.json()
    assert [u["email"] for u in body["items"]] == [
        "dave@example.test",
        "carol@example.test",
        "mod1@example.test",
        "boss@example.test",
    ]
    assert body["next_cursor"] is None
    assert all("password_hash" not in u for u in body["items"])
    moderators = (await client.get("/api/auth/users", params={"role": "moderator"}, headers=admin)).json()
    assert [u["email"] for u in moderators["items"]] == ["mod1@example.test"]
    by_text = (await client.get("/api/auth/users", params={"q": "CAROL"}, headers=admin)).json()
    assert [u["email"] for u in by_text["items"]] == ["carol@example.test"]
    # LIKE wildcards in q are plain characters
    percent = (await client.get("/api/auth/users", params={"q": "100%_"}, headers=admin)).json()
    assert [u["email"] for u in percent["items"]] == ["carol@example.test"]
    only_percent = (await client.get("/api/auth/users", params={"q": "%"}, headers=admin)).json()
    assert [u["email"] for u in only_percent["items"]] == ["carol@example.test"]
    assert (await client.get("/api/auth/users", params={"q": "a_b"}, headers=admin)).json()["items"] == []
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"role": "root"},
        {"cursor": "garbage!"},
        {"q": "q" * 101},
    ):
        assert_problem(await client.get("/api/auth/users", params=params, headers=admin), 422)


async def test_pagination_walks_every_user_once_newest_first(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "pager@example.test", "admin")
    # 37 more users, several sharing one created_at, so the id must break ties
    await db.execute(
        """
        INSERT INTO auth.users (id, email, name, password_hash, created_at)
        SELECT gen_random_uuid(), 'p' || i || '@example.test', 'p' || i, 'x',
               now() - ((i / 3) * interval '1 second')
        FROM generate_series(1, 37) AS i
        """
    )
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/auth/users", params=params, headers=admin)).json()
        pages += 1
        assert len(page["items"]) <= 5
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 8
    ids = [u["id"] for u in seen]
    assert len(ids) == len(set(ids)) == 38
    keys = [(u["created_at"], u["id"]) for u in seen]
    parsed = [(datetime.fromisoformat(c), uuid.UUID(i)) for c, i in keys]
    assert parsed == sorted(parsed, reverse=True)


# --- update-user (admin) --------------------------------------------------------------------


async def test_update_user_sets_role_and_normalised_skills(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "root@example.test", "admin")
    await verify_by_link(client, jwt_keys, (await signup(client, "helper@example.test"))["user"]["id"])
    response = await client.post(
        "/api/auth/update-user",
        json={
            "email": "Helper@Example.test",
            "role": "moderator",
            "skills": ["  Python ", "python", "Billing", "PYTHON", "Go  Lang"],
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["role"] == "moderator"
    assert user["skills"] == ["Python", "Billing", "Go Lang"]
    cleared = await client.post(
        "/api/auth/update-user", json={"email": "helper@example.test", "skills": []}, headers=admin
    )
    assert cleared.json()["skills"] == []
    assert cleared.json()["role"] == "moderator"
    row = (await db.fetch("SELECT role, skills, revision FROM auth.users WHERE email = 'helper@example.test'"))[0]
    assert row["role"] == "moderator"
    assert json.loads(row["skills"]) == []
    assert row["revision"] == 3  # verified, promoted, skills cleared


async def test_update_user_refusals(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "chief@example.test", "admin")
    user = await make_user(db, jwt_keys, "someone@example.test")
    moderator = await make_user(db, jwt_keys, "mid@example.test", "moderator")
    assert_problem(
        await client.post(
            "/api/auth/update-user", json={"email": "nobody@example.test", "role": "user"}, headers=admin
        ),
        404,
    )
    bad_bodies = [
        {"email": "someone@example.test", "role": "superuser"},
        {"email": "someone@example.test", "skills": [f"s{i}" for i in range(51)]},
        {"email": "someone@example.test", "skills": ["   "]},
        {"email": "someone@example.test", "skills": ["x" * 65]},
        {"email": "someone@example.test", "skills": "python"},
        {"email": "someone@example.test", "active": "no"},
        {"email": "someone@example.test", "password": "new password"},
        {"email": "not an email", "role": "user"},
        {"role": "admin"},
    ]
    for body in bad_bodies:
        assert_problem(await client.post("/api/auth/update-user", json=body, headers=admin), 422)
    for headers in (user, moderator):
        response = await client.post(
            "/api/auth/update-user", json={"email": "someone@example.test", "role": "admin"}, headers=headers
        )
        assert_problem(response, 403)
    assert_problem(
        await client.post("/api/auth/update-user", json={"email": "someone@example.test", "role": "admin"}), 401
    )
    rows = await db.fetch("SELECT role, skills, revision FROM auth.users WHERE email = 'someone@example.test'")
    assert rows[0]["role"] == "user"
    assert rows[0]["revision"] == 0
    assert await db.fetchval("SELECT count(*) FROM auth.outbox WHERE routing_key = 'user.updated'") == 0


async def test_the_last_admin_cannot_be_demoted_or_disabled(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "only@example.test", "admin")
    for change in ({"role": "moderator"}, {"role": "user"}, {"active": False}):
        response = await client.post(
            "/api/auth/update-user", json={"email": "only@example.test", **change}, headers=admin
        )
        assert_problem(response, 409)
    assert await db.fetchval("SELECT role FROM auth.users WHERE email = 'only@example.test'") == "admin"
    # with a second admin, stepping down is fine
    await client.post("/api/auth/update-user", json={"email": "only@example.test", "skills": ["ops"]}, headers=admin)
    await verify_by_link(client, jwt_keys, (await signup(client, "second@example.test"))["user"]["id"])
    promoted = await client.post(
        "/api/auth/update-user", json={"email": "second@example.test", "role": "admin"}, headers=admin
    )
    assert promoted.json()["role"] == "admin"
    down = await client.post(
        "/api/auth/update-user", json={"email": "only@example.test", "role": "user"}, headers=admin
    )
    assert down.status_code == 200
    assert down.json()["role"] == "user"


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(client, db: Db, jwt_keys: JwtKeys):
    a = await make_user(db, jwt_keys, "a@example.test", "admin")
    b = await make_user(db, jwt_keys, "b@example.test", "admin")
    for _ in range(3):
        ra, rb = await asyncio.gather(
            client.post("/api/auth/update-user", json={"email": "b@example.test", "role": "user"}, headers=a),
            client.post("/api/auth/update-user", json={"email": "a@example.test", "role": "user"}, headers=b),
        )
        statuses = sorted((ra.status_code, rb.status_code))
        # one wins; the other is refused (409: last admin, or 401: its own token was just revoked)
        assert statuses[0] == 200, (ra.text, rb.text)
        assert statuses[1] in (401, 409), (ra.text, rb.text)
        assert await db.fetchval("SELECT count(*) FROM auth.users WHERE role = 'admin'") == 1
        await db.execute("UPDATE auth.users SET role = 'admin', tokens_valid_after = NULL")
        a = bearer((await login(client, "a@example.test"))["token"])
        b = bearer((await login(client, "b@example.test"))["token"])


async def test_a_lowered_role_revokes_old_tokens(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "rev-admin@example.test", "admin")
    moderator = await make_user(db, jwt_keys, "rev-mod@example.test", "moderator")
    assert (await client.get("/api/auth/me", headers=moderator)).status_code == 200
    before = datetime.now(UTC)
    response = await client.post(
        "/api/auth/update-user", json={"email": "rev-mod@example.test", "role": "user"}, headers=admin
    )
    assert response.status_code == 200
    assert_problem(await client.get("/api/auth/me", headers=moderator), 401)
    # a new login works, with the new role
    fresh = await login(client, "rev-mod@example.test")
    assert fresh["user"]["role"] == "user"
    assert (await client.get("/api/auth/me", headers=bearer(fresh["token"]))).status_code == 200
    # a promotion does not revoke anything
    await client.post(
        "/api/auth/update-user", json={"email": "rev-mod@example.test", "role": "moderator"}, headers=admin
    )
    assert (await client.get("/api/auth/me", headers=bearer(fresh["token"]))).status_code == 200

    listed = await client.get("/internal/revocations", params={"since": before.isoformat()})
    assert listed.status_code == 200
    items = listed.json()["items"]
    user_id = fresh["user"]["id"]
    assert [i["user_id"] for i in items] == [user_id]
    valid_after = datetime.fromisoformat(items[0]["tokens_valid_after"])
    assert before < valid_after <= datetime.now(UTC)
    later = await client.get("/internal/revocations", params={"since": valid_after.isoformat()})
    assert later.json() == {"items": []}
    assert [i["user_id"] for i in (await client.get("/internal/revocations")).json()["items"]] == [user_id]


async def test_a_disabled_user_loses_access_at_once_and_can_be_enabled_again(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "boss2@example.test", "admin")
    victim = await make_user(db, jwt_keys, "off@example.test")
    response = await client.post(
        "/api/auth/update-user", json={"email": "off@example.test", "active": False}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert_problem(await client.get("/api/auth/me", headers=victim), 401)
    assert_problem(await client.post("/api/auth/login", json={"email": "off@example.test", "password": PASSWORD}), 401)
    await client.post("/api/auth/update-user", json={"email": "off@example.test", "active": True}, headers=admin)
    await login(client, "off@example.test")


async def test_revocations_refuses_bad_since(client):
    for since in ("yesterday", "2026-01-01T00:00:00"):
        assert_problem(await client.get("/internal/revocations", params={"since": since}), 422)
