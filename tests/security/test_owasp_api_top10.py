"""The OWASP API Security Top 10 (2023) as tests over our public routes, through the gateway."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from shared.jwt import generate_keypair, load_private_key

from .conftest import World, login, promote, signup

ROLES = ["alice", "bob", "mod", "other_mod", "admin", "anonymous"]
FORBIDDEN_KEYS = {"password", "password_hash", "hash", "hashed_password", "secret", "salt"}


def headers_of(world: World, who: str) -> dict[str, str]:
    person = world.people()[who]
    return person.headers if person else {}


def all_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(all_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(all_keys(v) for v in value)) if value else set()
    return set()


# --- API1: broken object level authorization ---------------------------------------------------

# who may see the ticket alice created and mod is assigned to
SEES_TICKET = {"alice": 200, "bob": 404, "mod": 200, "other_mod": 404, "admin": 200, "anonymous": 401}


@pytest.mark.parametrize("who", ROLES)
def test_get_ticket_by_id_per_role(world: World, who: str) -> None:
    r = world.client.get(f"/api/tickets/{world.ticket['id']}", headers=headers_of(world, who))
    assert r.status_code == SEES_TICKET[who], r.text
    assert r.headers["content-type"].startswith(
        "application/problem+json" if r.status_code != 200 else "application/json"
    )


@pytest.mark.parametrize("who", ROLES)
def test_list_comments_per_role(world: World, who: str) -> None:
    r = world.client.get(f"/api/tickets/{world.ticket['id']}/comments", headers=headers_of(world, who))
    assert r.status_code == SEES_TICKET[who], r.text


@pytest.mark.parametrize("who", ["bob", "other_mod", "anonymous"])
def test_outsiders_cannot_comment_patch_or_retriage(world: World, who: str) -> None:
    tid = world.ticket["id"]
    h = headers_of(world, who)
    expected = 401 if who == "anonymous" else 404
    assert world.client.post(f"/api/tickets/{tid}/comments", headers=h, json={"body": "hi"}).status_code == expected
    assert world.client.patch(f"/api/tickets/{tid}", headers=h, json={"status": "closed"}).status_code == expected
    retriage = world.client.post(f"/api/tickets/{tid}/retriage", headers=h).status_code
    assert retriage == (401 if who == "anonymous" else 403)
    after = world.client.get(f"/api/tickets/{tid}", headers=world.admin.headers).json()
    assert after["status"] != "closed"


@pytest.mark.parametrize("who", ROLES)
def test_list_never_shows_other_peoples_tickets(world: World, who: str) -> None:
    r = world.client.get("/api/tickets", headers=headers_of(world, who), params={"limit": 100})
    if who == "anonymous":
        assert r.status_code == 401
        return
    ids = {t["id"] for t in r.json()["items"]}
    assert (world.ticket["id"] in ids) == (SEES_TICKET[who] == 200)


def test_unknown_and_malformed_ids(world: World) -> None:
    assert world.client.get(f"/api/tickets/{uuid.uuid4()}", headers=world.admin.headers).status_code == 404
    r = world.client.get("/api/tickets/not-a-uuid", headers=world.admin.headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


# --- API2: broken authentication ---------------------------------------------------------------


def _token(world: World, **overrides: object) -> str:
    env = world.stack.env
    key = load_private_key(env["JWT_PRIVATE_KEY"])
    now = datetime.now(UTC)
    claims = {
        "sub": world.admin.id,
        "role": "admin",
        "email": world.admin.email,
        "name": "x",
        "iss": env.get("JWT_ISSUER", "helpdesk-auth"),
        "aud": env.get("JWT_AUDIENCE", "helpdesk"),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "t",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return pyjwt.encode(claims, key, algorithm="EdDSA")


def _alg_none(world: World) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': world.admin.id, 'role': 'admin', 'iat': now, 'exp': now + 300, 'iss': 'helpdesk-auth', 'aud': 'helpdesk', 'jti': 'x'})}."  # noqa: E501


@pytest.mark.parametrize(
    "case",
    ["alg_none", "wrong_key", "expired", "no_exp", "no_sub", "wrong_aud", "wrong_iss", "garbage", "empty_bearer"],
)
def test_bad_tokens_get_401_everywhere(world: World, case: str) -> None:
    if case == "alg_none":
        token = _alg_none(world)
    elif case == "wrong_key":
        other, _ = generate_keypair()
        token = pyjwt.encode(
            {
                "sub": world.admin.id,
                "role": "admin",
                "iss": "helpdesk-auth",
                "aud": "helpdesk",
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
                "jti": "x",
            },
            load_private_key(other),
            algorithm="EdDSA",
        )
    elif case == "expired":
        token = _token(world, iat=int(time.time()) - 3600, exp=int(time.time()) - 1800)
    elif case == "no_exp":
        token = _token(world, exp=None)
    elif case == "no_sub":
        token = _token(world, sub=None)
    elif case == "wrong_aud":
        token = _token(world, aud="someone-else")
    elif case == "wrong_iss":
        token = _token(world, iss="evil")
    elif case == "garbage":
        token = "abc.def.ghi"
    else:
        token = None
    h = {"Authorization": f"Bearer {token}" if token is not None else "Bearer"}
    for method, path in [
        ("GET", "/api/auth/me"),
        ("GET", "/api/tickets"),
        ("GET", "/api/auth/users"),
        ("GET", "/api/triage/model"),
        ("GET", f"/api/tickets/{world.ticket['id']}"),
    ]:
        r = world.client.request(method, path, headers=h)
        assert r.status_code == 401, (case, path, r.status_code)
        assert "Traceback" not in r.text


def test_a_valid_forged_looking_token_signed_by_the_real_key_works(world: World) -> None:
    # the positive control for the negatives above: only the deviation makes them fail
    r = world.client.get("/api/auth/me", headers={"Authorization": f"Bearer {_token(world)}"})
    assert r.status_code == 200


def test_login_gives_the_same_answer_for_unknown_email_and_wrong_password(world: World) -> None:
    unknown = world.client.post(
        "/api/auth/login", json={"email": f"nobody-{uuid.uuid4().hex}@x.test", "password": "whatever-123"}
    )
    wrong = world.client.post("/api/auth/login", json={"email": world.bob.email, "password": "wrong-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_login_guessing_is_delayed_but_never_locks_the_account(world: World) -> None:
    victim = signup(world.client, "victim")
    statuses = [
        world.client.post("/api/auth/login", json={"email": victim.email, "password": "bad-guess-1"}).status_code
        for _ in range(7)
    ]
    assert statuses[:4] == [401] * 4
    assert 429 in statuses[4:]
    # a delay (seconds, growing with each failure), not a lock: the right password gets in after it
    deadline = time.monotonic() + 20
    while True:
        r = world.client.post("/api/auth/login", json={"email": victim.email, "password": victim.password})
        if r.status_code == 200:
            break
        assert r.status_code == 429, r.text
        assert time.monotonic() < deadline, "the owner is still locked out"
        time.sleep(int(r.headers["retry-after"]))


def test_demoted_admin_loses_rights_within_60_seconds(world: World) -> None:
    deputy = promote(
        world.client, world.admin, signup(world.client, "deputy"), "admin", [], mail_dir=world.stack.mail_dir
    )
    assert world.client.get("/api/auth/users", headers=deputy.headers).status_code == 200
    old_headers = deputy.headers
    r = world.client.post(
        "/api/auth/update-user", headers=world.admin.headers, json={"email": deputy.email, "role": "user"}
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 60
    while world.client.get("/api/auth/users", headers=old_headers).status_code == 200:
        assert time.monotonic() < deadline, "the demoted admin's token still works after 60 s"
        time.sleep(0.5)
    assert world.client.get("/api/auth/users", headers=old_headers).status_code in (401, 403)
    fresh = login(world.client, deputy)
    assert world.client.get("/api/auth/users", headers=fresh.headers).status_code == 403
    assert world.client.get("/api/auth/me", headers=fresh.headers).json()["role"] == "user"


# --- API3: broken object property level authorization ------------------------------------------


@pytest.mark.parametrize("extra", [{"role": "admin"}, {"skills": ["x"]}, {"id": str(uuid.uuid4())}])
def test_signup_refuses_mass_assignment(world: World, extra: dict) -> None:
    email = f"mass-{uuid.uuid4().hex[:8]}@security.test"
    r = world.client.post("/api/auth/signup", json={"email": email, "password": "long-enough-1", **extra})
    assert r.status_code == 422
    # and nothing was created
    login_r = world.client.post("/api/auth/login", json={"email": email, "password": "long-enough-1"})
    assert login_r.status_code == 401


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "closed", "created_by": "x"},
        {"triage": {"state": "done"}},
        {"assigned_to": None, "helpful_notes": "x"},
    ],
)
def test_ticket_writes_refuse_unknown_fields(world: World, extra: dict) -> None:
    r = world.client.post(
        "/api/tickets", headers=world.bob.headers, json={"title": "Mass assignment", "description": "x", **extra}
    )
    assert r.status_code == 422


def test_requester_cannot_change_priority_or_assignee(world: World) -> None:
    tid = world.ticket["id"]
    for body in ({"priority": "high"}, {"category": "Billing and Payments"}, {"assigned_to": world.alice.id}):
        r = world.client.patch(f"/api/tickets/{tid}", headers=world.alice.headers, json=body)
        assert r.status_code in (403, 409, 422), (body, r.status_code)
    r = world.client.patch(f"/api/tickets/{tid}", headers=world.mod.headers, json={"assigned_to": world.mod.id})
    assert r.status_code in (403, 422)


def test_requester_never_sees_staff_fields_or_internal_comments(world: World) -> None:
    mine = world.client.get(f"/api/tickets/{world.ticket['id']}", headers=world.alice.headers).json()
    assert "helpful_notes" not in mine
    assert "related_skills" not in mine
    assert set(mine["triage"]) == {"state"}
    staff = world.client.get(f"/api/tickets/{world.ticket['id']}", headers=world.mod.headers).json()
    assert "helpful_notes" in staff
    assert "assignment_reason" in staff["triage"]
    comments = world.client.get(f"/api/tickets/{world.ticket['id']}/comments", headers=world.alice.headers).json()
    assert all(not c.get("internal") for c in comments["items"])
    if world.internal_comment_id:
        staff_comments = world.client.get(
            f"/api/tickets/{world.ticket['id']}/comments", headers=world.mod.headers
        ).json()
        assert any(c["id"] == world.internal_comment_id for c in staff_comments["items"])


def test_no_answer_carries_a_password_hash(world: World) -> None:
    answers = [
        world.client.get("/api/auth/me", headers=world.alice.headers).json(),
        world.client.get("/api/auth/users", headers=world.admin.headers, params={"limit": 100}).json(),
        world.client.post("/api/auth/login", json={"email": world.bob.email, "password": world.bob.password}).json(),
        world.client.get("/api/tickets", headers=world.admin.headers).json(),
    ]
    for body in answers:
        assert not (all_keys(body) & FORBIDDEN_KEYS)
        assert "$argon2" not in json.dumps(body)


# --- API4: unrestricted resource consumption ---------------------------------------------------


def test_size_and_page_limits(world: World) -> None:
    big = {"title": "big", "description": "x" * (70 * 1024)}
    r = world.client.post("/api/tickets", headers=world.bob.headers, json=big)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    too_long = world.client.post(
        "/api/tickets", headers=world.bob.headers, json={"title": "ok title", "description": "x" * 10001}
    )
    assert too_long.status_code == 422
    for limit in ("0", "101", "-1", "abc"):
        assert world.client.get("/api/tickets", headers=world.bob.headers, params={"limit": limit}).status_code == 422


# --- API5: broken function level authorization -------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/api/auth/users", None),
    ("POST", "/api/auth/update-user", {"email": "x@y.test", "role": "admin"}),
    ("GET", "/api/triage/categories", None),
    (
        "PUT",
        "/api/triage/categories",
        {"categories": [{"name": "A", "description": ""}, {"name": "B", "description": ""}]},
    ),
    ("POST", "/api/triage/examples", {"examples": []}),
    ("POST", "/api/triage/retrain", None),
    ("GET", "/api/triage/model", None),
    ("GET", "/api/triage/decisions", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize("who", ["alice", "mod", "anonymous"])
def test_admin_routes_refuse_everyone_else(world: World, who: str, method: str, path: str, body: dict | None) -> None:
    r = world.client.request(method, path, headers=headers_of(world, who), json=body)
    assert r.status_code == (401 if who == "anonymous" else 403), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_retriage_is_admin_only(world: World) -> None:
    r = world.client.post(f"/api/tickets/{world.ticket['id']}/retriage", headers=world.mod.headers)
    assert r.status_code == 403


def test_role_escalation_through_update_user_is_admin_only(world: World) -> None:
    r = world.client.post(
        "/api/auth/update-user", headers=world.mod.headers, json={"email": world.mod.email, "role": "admin"}
    )
    assert r.status_code == 403
    me = world.client.get("/api/auth/me", headers=login(world.client, world.mod).headers).json()
    assert me["role"] == "moderator"


# --- API8: security misconfiguration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/api/tickets", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/api/auth/login", {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}),
        ("GET", "/api/tickets", {"params": {"cursor": "%%%garbage"}}),
        ("GET", "/api/nowhere", {}),
        ("GET", "/internal/revocations", {}),
        ("DELETE", "/api/auth/me", {}),
    ],
)
def test_errors_are_problem_documents_without_internals(world: World, method: str, path: str, kwargs: dict) -> None:
    headers = {**world.bob.headers, **kwargs.pop("headers", {})}
    r = world.client.request(method, path, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    for leak in ("Traceback", "sqlalchemy", "asyncpg", "127.0.0.1:81", 'File "'):
        assert leak not in r.text


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    _cursor(["2020-01-01T00:00:00+00:00", 5]),
    _cursor(["9999-12-31T23:59:59-14:00", str(uuid.UUID(int=0))]),
    _cursor(["0001-01-01T00:00:00+14:00", str(uuid.UUID(int=0))]),
    _cursor({"a": 1, "b": 2}),
    "%%%garbage",
]


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickets",
        "/api/tickets/{ticket}/comments",
        "/api/auth/users",
        "/api/triage/decisions",
        "/api/notifications/failures",
    ],
)
def test_a_forged_cursor_is_422_on_every_paginated_route(world: World, path: str) -> None:
    url = path.format(ticket=world.ticket["id"])
    for cursor in FORGED_CURSORS:
        r = world.client.get(url, headers=world.admin.headers, params={"cursor": cursor})
        assert r.status_code == 422, (url, cursor, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert world.client.get(url, headers=world.admin.headers).status_code == 200
