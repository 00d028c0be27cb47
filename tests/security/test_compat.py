"""/compat/api on the running stack: the original project's shapes over our own rules."""

from __future__ import annotations

import uuid

import httpx

from .conftest import World


def _compat_signup(client: httpx.Client, prefix: str) -> tuple[str, str, dict]:
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@compat.test"
    password = "compat-password-" + uuid.uuid4().hex[:6]
    r = client.post("/compat/api/auth/signup", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"user", "token"}
    return email, password, body


def test_signup_and_login_answer_user_and_token(world: World) -> None:
    client = world.client
    email, password, body = _compat_signup(client, "carol")
    user = body["user"]
    assert user["email"] == email
    assert user["role"] == "user"
    assert user["skills"] == []
    uuid.UUID(user["_id"])
    assert "createdAt" in user
    assert "password" not in user
    assert "password_hash" not in user
    r = client.post("/compat/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["_id"] == user["_id"]
    # the same token works on our own /api
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["id"] == user["_id"]


def test_errors_carry_message_and_error(world: World) -> None:
    client = world.client
    r = client.post("/compat/api/auth/login", json={"email": world.alice.email, "password": "wrong-password"})
    assert r.status_code == 401
    assert r.json()["message"]
    assert r.json()["error"] == r.json()["message"]
    # a signup may not choose its role: refused (400, as the original answers bad input), nothing made
    email = f"mallory-{uuid.uuid4().hex[:6]}@compat.test"
    r = client.post("/compat/api/auth/signup", json={"email": email, "password": "long-enough-pw", "role": "admin"})
    assert r.status_code == 400
    assert "role" in r.json()["message"]
    assert client.post("/compat/api/auth/login", json={"email": email, "password": "long-enough-pw"}).status_code == 401
    r = client.get("/compat/api/tickets")
    assert r.status_code == 401
    assert r.json()["error"]
    r = client.post("/compat/api/tickets", headers=world.alice.headers, json={"title": "only a title"})
    assert r.status_code == 400
    assert r.json()["message"] == "Title and description are required"


def test_tickets_create_list_open(world: World) -> None:
    client = world.client
    _, _, body = _compat_signup(client, "dave")
    headers = {"Authorization": f"Bearer {body['token']}"}
    r = client.post(
        "/compat/api/tickets",
        headers=headers,
        json={"title": "Cannot export my report", "description": "The CSV export button does nothing."},
    )
    assert r.status_code == 201, r.text
    created = r.json()["ticket"]
    assert r.json()["message"]
    assert created["status"] == "TODO"
    assert created["createdBy"] == body["user"]["_id"]
    r = client.get("/compat/api/tickets", headers=headers)
    assert r.status_code == 200
    listed = r.json()
    assert isinstance(listed, list)
    assert [t["_id"] for t in listed] == [created["_id"]]
    assert listed[0]["createdAt"]
    assert "helpfulNotes" not in listed[0]
    r = client.get(f"/compat/api/tickets/{created['_id']}", headers=headers)
    assert r.status_code == 200
    assert r.json()["ticket"]["title"] == "Cannot export my report"


def test_visibility_is_ours(world: World) -> None:
    client = world.client
    ticket_id = world.ticket["id"]
    # bob did not open alice's ticket: not found (never "access denied", which would reveal it)
    r = client.get(f"/compat/api/tickets/{ticket_id}", headers=world.bob.headers)
    assert r.status_code == 404
    assert r.json()["message"] == "Ticket not found"
    assert ticket_id not in [t["_id"] for t in client.get("/compat/api/tickets", headers=world.bob.headers).json()]
    assert client.get("/compat/api/tickets/not-an-id", headers=world.alice.headers).status_code == 404
    # the requester sees no staff notes; the assignee sees them in camelCase
    mine = client.get(f"/compat/api/tickets/{ticket_id}", headers=world.alice.headers).json()["ticket"]
    assert "helpfulNotes" not in mine
    assert "relatedSkills" not in mine
    staff = client.get(f"/compat/api/tickets/{ticket_id}", headers=world.mod.headers).json()["ticket"]
    assert staff["assignedTo"]["_id"] == world.mod.id
    assert staff["assignedTo"]["email"] == world.mod.email
    assert isinstance(staff["relatedSkills"], list)
    assert "helpfulNotes" in staff


def test_admin_lists_users_and_update_user_keeps_skills_when_empty(world: World) -> None:
    client = world.client
    r = client.get("/compat/api/auth/users", headers=world.admin.headers)
    assert r.status_code == 200
    users = r.json()
    assert isinstance(users, list)
    assert world.mod.email in [u["email"] for u in users]
    for user in users:
        assert "password" not in user
        assert "password_hash" not in user
        assert "_id" in user
    assert client.get("/compat/api/auth/users", headers=world.alice.headers).status_code == 403
    r = client.post(
        "/compat/api/auth/update-user", headers=world.alice.headers, json={"email": world.alice.email, "role": "admin"}
    )
    assert r.status_code == 403
    # empty skills: the original keeps the user's skills
    r = client.post(
        "/compat/api/auth/update-user",
        headers=world.admin.headers,
        json={"email": world.other_mod.email, "role": "moderator", "skills": []},
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["skills"] == ["kubernetes"]
    r = client.post(
        "/compat/api/auth/update-user",
        headers=world.admin.headers,
        json={"email": world.other_mod.email, "role": "moderator", "skills": ["kubernetes", "helm"]},
    )
    assert r.json()["user"]["skills"] == ["kubernetes", "helm"]
    r = client.post(
        "/compat/api/auth/update-user",
        headers=world.admin.headers,
        json={"email": "nobody@compat.test", "role": "moderator"},
    )
    assert r.status_code == 404
    assert r.json()["error"] == "User not found"
