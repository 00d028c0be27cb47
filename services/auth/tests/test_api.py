"""Every auth route, its happy path and its refusals, against real Postgres and RabbitMQ."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from argon2 import PasswordHasher
from auth.app import create_app
from auth.settings import AuthSettings
from shared.jwt import TokenIssuer, TokenVerifier
from shared.testing.plugin import JwtKeys, app_client, bearer, wait_for

from .helpers import PASSWORD, PROBLEM, Db, assert_problem, login, make_user, signup, verify_by_link


@pytest.fixture(scope="module")
async def client(make_settings: Callable[..., AuthSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(make_settings())) as client:
        yield client


@pytest.fixture(autouse=True)
async def clean(db: Db) -> None:
    await db.reset()


# --- signup ---------------------------------------------------------------------------------


async def test_signup_creates_a_user_and_returns_a_token(client, jwt_keys: JwtKeys, db: Db):
    body = await signup(client, "  Ada.Lovelace@Example.TEST ")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    user = body["user"]
    assert set(user) == {"id", "email", "name", "role", "skills", "active", "email_verified", "created_at"}
    assert user["email_verified"] is False
    assert user["email"] == "ada.lovelace@example.test"
    assert user["name"] == "ada.lovelace"
    assert user["role"] == "user"
    assert user["skills"] == []
    claims = pyjwt.decode(
        body["token"], jwt_keys.public_pem, algorithms=["EdDSA"], audience="helpdesk", issuer="helpdesk-auth"
    )
    assert claims["sub"] == user["id"]
    assert claims["role"] == "user"
    assert claims["email"] == "ada.lovelace@example.test"
    assert {"iat", "exp", "jti", "name"} <= set(claims)
    assert 899 <= claims["exp"] - claims["iat"] <= 900
    stored = await db.fetchval("SELECT password_hash FROM auth.users WHERE id = $1", uuid.UUID(user["id"]))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert "hash" not in json.dumps(body)


async def test_signup_keeps_a_given_name(client):
    body = await signup(client, "grace@example.test", name="  Grace   Hopper ")
    assert body["user"]["name"] == "Grace Hopper"


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "eve@example.test", "password": PASSWORD, "role": "admin"},
        {"email": "eve@example.test", "password": PASSWORD, "skills": ["x"]},
        {"email": "eve@example.test", "password": PASSWORD, "id": str(uuid.uuid4())},
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "eve@", "password": PASSWORD},
        {"email": "eve@example.test", "password": "short7!"},
        {"email": "eve@example.test", "password": "x" * 129},
        {"email": "eve@example.test", "password": 12345678},
        {"email": "eve@example.test", "password": PASSWORD, "name": "n" * 101},
        {"email": "eve@example.test", "password": PASSWORD, "name": "bad\u0000name"},
        {"email": "eve@example.test"},
        {"password": PASSWORD},
        [],
        "just a string",
    ],
)
async def test_signup_refuses_bad_input_and_creates_nothing(client, db: Db, payload: Any):
    response = await client.post("/api/auth/signup", json=payload)
    body = assert_problem(response, 422)
    assert body["errors"]
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0
    assert await db.fetchval("SELECT count(*) FROM auth.outbox") == 0


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("eve@example.test", "12345678"),  # the classics are too short now
        ("eve@example.test", "password"),
        ("eve@example.test", "elevenchars"),  # 11: one short of NIST's advice as we apply it
        ("eve@example.test", "password1234"),  # 12+, but on the common list
        ("eve@example.test", "Qwerty123456"),  # the list is matched whatever the case
        ("eve@example.test", "123456789012"),
        ("eve@example.test", "aaaaaaaaaaaaaaaa"),
        ("longaddress.eve@example.test", "longaddress.eve@example.test"),  # the email itself
        ("longaddress.eve@example.test", "LongAddress.Eve"),  # its local part
    ],
)
async def test_signup_refuses_weak_passwords(client, db: Db, email: str, password: str):
    response = await client.post("/api/auth/signup", json={"email": email, "password": password})
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][-1] == "password"
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_signup_needs_no_composition_rules(client):
    # twelve lower-case letters and spaces, no digit or symbol: long and uncommon is enough
    await signup(client, "plain@example.test", "purple elephant rides")


async def test_signup_refuses_a_body_that_is_not_json(client):
    response = await client.post("/api/auth/signup", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422)


async def test_signup_with_a_taken_email_is_a_conflict(client, db: Db):
    await signup(client, "taken@example.test")
    body = {"email": "TAKEN@example.test", "password": "another passphrase"}
    response = await client.post("/api/auth/signup", json=body)
    assert_problem(response, 409)
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 1


async def test_concurrent_signups_of_one_email_make_one_account(client, db: Db):
    responses = await asyncio.gather(
        *(client.post("/api/auth/signup", json={"email": "race@example.test", "password": PASSWORD}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 1


async def test_a_body_over_64_kib_is_refused_with_413(client, db: Db):
    payload = {"email": "big@example.test", "password": PASSWORD, "name": "x" * (65 * 1024)}
    assert_problem(await client.post("/api/auth/signup", json=payload), 413)
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


# --- login ----------------------------------------------------------------------------------


async def test_login_returns_a_token_for_the_right_password(client):
    created = await signup(client, "lin@example.test")
    body = await login(client, "  LIN@Example.test")
    assert body["user"] == created["user"]
    assert body["expires_in"] == 900
    me = await client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "lin@example.test"


async def test_answers_with_a_token_are_never_cached(client):
    signed_up = await client.post("/api/auth/signup", json={"email": "cache@example.test", "password": PASSWORD})
    logged_in = await client.post("/api/auth/login", json={"email": "cache@example.test", "password": PASSWORD})
    for response in (signed_up, logged_in):
        assert response.status_code in (200, 201), response.text
        assert response.headers["cache-control"] == "no-store"


async def test_unknown_email_and_wrong_password_get_the_same_401(client):
    await signup(client, "known@example.test")
    wrong = await client.post("/api/auth/login", json={"email": "known@example.test", "password": "wrong password"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.test", "password": "wrong password"})
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.json() == unknown.json()
    assert "token" not in wrong.json()


async def test_login_refuses_extra_fields(client):
    await signup(client, "xtra@example.test")
    response = await client.post(
        "/api/auth/login", json={"email": "xtra@example.test", "password": PASSWORD, "role": "admin"}
    )
    assert_problem(response, 422)


ATTACKER = {"X-Forwarded-For": "198.51.100.66"}  # as the gateway (a trusted proxy) reports it
OWNER = {"X-Forwarded-For": "203.0.113.10"}


async def test_failures_from_one_address_delay_it_more_and_more(client, db: Db):
    await signup(client, "victim@example.test")
    await signup(client, "bystander@example.test")
    wrong = {"email": "victim@example.test", "password": "wrong pw!"}
    for _ in range(5):
        assert_problem(await client.post("/api/auth/login", json=wrong, headers=ATTACKER), 401)
    # from that address even the right password waits (so guesses learn nothing), briefly
    right = {"email": "Victim@example.test", "password": PASSWORD}
    throttled = await client.post("/api/auth/login", json=right, headers=ATTACKER)
    assert_problem(throttled, 429)
    assert int(throttled.headers["retry-after"]) == 1
    # each further failure doubles the delay
    for expected in (2, 4, 8):
        await db.execute("UPDATE auth.login_throttle SET blocked_until = now() - interval '1 second'")
        assert_problem(await client.post("/api/auth/login", json=wrong, headers=ATTACKER), 401)
        delayed = await client.post("/api/auth/login", json=wrong, headers=ATTACKER)
        assert_problem(delayed, 429)
        assert expected - 1 <= int(delayed.headers["retry-after"]) <= expected
    # other accounts from that address are not affected, and the delay ends
    await login(client, "bystander@example.test")
    await db.execute("UPDATE auth.login_throttle SET blocked_until = now() - interval '1 second'")
    response = await client.post("/api/auth/login", json=right, headers=ATTACKER)
    assert response.status_code == 200, response.text


async def test_an_attacker_elsewhere_never_locks_the_owner_out(client):
    await signup(client, "admin-ish@example.test")
    wrong = {"email": "admin-ish@example.test", "password": "wrong pw!"}
    statuses = [(await client.post("/api/auth/login", json=wrong, headers=ATTACKER)).status_code for _ in range(20)]
    assert 429 in statuses
    right = {"email": "admin-ish@example.test", "password": PASSWORD}
    response = await client.post("/api/auth/login", json=right, headers=OWNER)
    assert response.status_code == 200, response.text


async def test_one_address_guessing_across_accounts_is_delayed(make_settings, db: Db):
    async with app_client(create_app(make_settings(login_address_max_failures=3))) as client:
        await signup(client, "fourth@example.test")
        for n in range(3):
            body = {"email": f"spray{n}@example.test", "password": "wrong pw!"}
            assert_problem(await client.post("/api/auth/login", json=body, headers=ATTACKER), 401)
        right = {"email": "fourth@example.test", "password": PASSWORD}
        assert_problem(await client.post("/api/auth/login", json=right, headers=ATTACKER), 429)
        # the owner's own address is not delayed
        assert (await client.post("/api/auth/login", json=right, headers=OWNER)).status_code == 200


async def test_many_logins_of_one_account_at_once_are_not_throttled(client):
    await signup(client, "busy@example.test")
    body = {"email": "busy@example.test", "password": PASSWORD}
    responses = await asyncio.gather(*(client.post("/api/auth/login", json=body) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8


async def test_unknown_emails_are_throttled_like_known_ones(client):
    for _ in range(5):
        response = await client.post("/api/auth/login", json={"email": "ghost@example.test", "password": "wrong pw!"})
        assert_problem(response, 401)
    response = await client.post("/api/auth/login", json={"email": "ghost@example.test", "password": "wrong pw!"})
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) > 0


async def test_throttling_is_shared_by_every_process(client, make_settings):
    await signup(client, "shared@example.test")
    async with app_client(create_app(make_settings())) as other:
        for c in (client, other, client, other, client):
            response = await c.post("/api/auth/login", json={"email": "shared@example.test", "password": "wrong pw!"})
            assert_problem(response, 401)
        response = await other.post("/api/auth/login", json={"email": "shared@example.test", "password": PASSWORD})
        assert_problem(response, 429)


async def test_a_successful_login_clears_the_failures(client):
    await signup(client, "forgetful@example.test")
    for _ in range(4):
        await client.post("/api/auth/login", json={"email": "forgetful@example.test", "password": "wrong pw!"})
    await login(client, "forgetful@example.test")
    for _ in range(4):
        response = await client.post("/api/auth/login", json={"email": "forgetful@example.test", "password": "wrong"})
        assert_problem(response, 401)
    await login(client, "forgetful@example.test")


async def test_a_disabled_user_cannot_log_in(client, db: Db):
    await signup(client, "gone@example.test")
    await db.execute("UPDATE auth.users SET active = false WHERE email = 'gone@example.test'")
    disabled = await client.post("/api/auth/login", json={"email": "gone@example.test", "password": PASSWORD})
    unknown = await client.post("/api/auth/login", json={"email": "nope@example.test", "password": PASSWORD})
    assert_problem(disabled, 401)
    assert disabled.json() == unknown.json()


async def test_login_rehashes_a_hash_made_with_weaker_parameters(client, db: Db):
    await signup(client, "old@example.test")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await db.execute("UPDATE auth.users SET password_hash = $1 WHERE email = 'old@example.test'", weak)
    await login(client, "old@example.test")
    stored = await db.fetchval("SELECT password_hash FROM auth.users WHERE email = 'old@example.test'")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    await login(client, "old@example.test")


# --- tokens ---------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_me_returns_the_caller(client):
    created = await signup(client, "me@example.test")
    response = await client.get("/api/auth/me", headers=bearer(created["token"]))
    assert response.status_code == 200
    assert response.json() == created["user"]


async def test_bad_tokens_get_401(client, jwt_keys: JwtKeys):
    created = await signup(client, "tok@example.test")
    user_id = uuid.UUID(created["user"]["id"])
    token = created["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    expired = jwt_keys.token(user_id=user_id, now=datetime.now(UTC) - timedelta(hours=1))
    tampered = ".".join([header, _b64({**claims, "role": "admin"}), signature])
    alg_none = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64({**claims, "role": "admin"}), ""])
    # the classic confusion: HS256 "signed" with the public key as the shared secret
    hs_head = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64({**claims, "role": "admin"})
    hs_sig = hmac.new(jwt_keys.public_pem.encode(), hs_head.encode(), hashlib.sha256).digest()
    hs256 = hs_head + "." + base64.urlsafe_b64encode(hs_sig).decode().rstrip("=")

    def other(**kw: str) -> str:
        issuer = TokenIssuer(
            private_key_pem=jwt_keys.private_pem,
            issuer=kw.get("iss", "helpdesk-auth"),
            audience=kw.get("aud", "helpdesk"),
        )
        return issuer.issue(user_id=user_id, role="user", email="tok@example.test", name="tok")

    from shared.jwt import generate_keypair

    foreign_key = TokenIssuer(private_key_pem=generate_keypair()[0], issuer="helpdesk-auth", audience="helpdesk")
    foreign = foreign_key.issue(user_id=user_id, role="user", email="tok@example.test", name="tok")
    unknown_user = jwt_keys.token(user_id=uuid.uuid4())

    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {token}"},
        "garbage": bearer("not.a.token"),
        "expired": bearer(expired),
        "tampered": bearer(tampered),
        "alg none": bearer(alg_none),
        "alg confusion": bearer(hs256),
        "wrong audience": bearer(other(aud="elsewhere")),
        "wrong issuer": bearer(other(iss="someone-else")),
        "foreign key": bearer(foreign),
        "unknown user": bearer(unknown_user),
    }
    for name, headers in cases.items():
        response = await client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith(PROBLEM), name
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200


async def test_signup_and_login_tokens_verify_with_the_configured_public_key(client, jwt_keys: JwtKeys):
    body = await signup(client, "verify@example.test")
    verifier = TokenVerifier(public_key_pem=jwt_keys.public_pem, issuer="helpdesk-auth", audience="helpdesk")
    principal = verifier.verify(body["token"])
    assert str(principal.id) == body["user"]["id"]
    assert principal.role == "user"


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


async def test_openapi_shows_the_public_routes_but_not_internal_ones(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/auth/signup", "/api/auth/login", "/api/auth/me", "/api/auth/users", "/api/auth/update-user"} <= set(
        paths
    )
    assert not any(p.startswith("/internal") for p in paths)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}

    async def ready_now() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await wait_for(ready_now, timeout=15, message="auth never became ready")  # the bus connects in the background
    ready = await client.get("/readyz")
    # consuming: auth too takes user.updated revocations from a private queue
    assert ready.json()["checks"] == {"database": True, "broker": True, "consuming": True}


async def test_control_characters_anywhere_are_refused_not_crashed_on(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "nul@example.test", "admin")
    for email in ("nul\x00@example.test", "a\x00b"):
        response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code in (401, 422), response.text
    # lower-casing makes this longer than the column that keys throttling
    response = await client.post("/api/auth/login", json={"email": "\u0130" * 320, "password": PASSWORD})
    assert_problem(response, 401)
    response = await client.post("/api/auth/login", json={"email": "nul@example.test", "password": "pw\x00pw"})
    assert_problem(response, 401)
    assert_problem(await client.get("/api/auth/users", params={"q": "a\x00b"}, headers=admin), 422)
    response = await client.post("/api/auth/update-user", json={"email": "nul@example.test\x00"}, headers=admin)
    assert_problem(response, 422)
    assert_problem(await client.get("/api/auth/users", params={"cursor": "\x00"}, headers=admin), 422)


async def test_malformed_requests_get_problem_documents(client):
    bad_utf8 = await client.post("/api/auth/login", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert_problem(bad_utf8, 422)
    assert_problem(await client.delete("/api/auth/me"), 405)
    assert_problem(await client.get("/api/auth/nowhere"), 404)
    form = await client.post("/api/auth/signup", data={"email": "f@example.test", "password": PASSWORD})
    assert_problem(form, 422)


async def test_an_unknown_email_takes_as_long_as_a_wrong_password(client):
    await signup(client, "timed@example.test")

    async def fastest(email: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            response = await client.post("/api/auth/login", json={"email": email, "password": "wrong pw!"})
            times.append(time.perf_counter() - started)
            assert response.status_code == 401
        return min(times)

    wrong = await fastest("timed@example.test")
    unknown = await fastest("untimed@example.test")
    # without the dummy verification the unknown email answers 10-50 times faster
    assert unknown > 0.4 * wrong, (unknown, wrong)


async def test_the_right_password_is_refused_if_the_limit_was_reached_while_it_was_checked(client, db: Db):
    await signup(client, "burst@example.test")
    passwords = client._transport.app.state.passwords  # type: ignore[attr-defined]
    original = passwords.verify

    async def verify_while_others_fail(password_hash: str | None, password: str) -> bool:
        # five parallel wrong guesses are recorded while this (right) one is being checked
        await db.execute(
            "INSERT INTO auth.login_throttle (key, attempts, last_failed_at, blocked_until)"
            " VALUES ('acct:burst@example.test|127.0.0.1', 5, now(), now() + interval '1 minute')"
            " ON CONFLICT (key) DO UPDATE SET attempts = 5, blocked_until = now() + interval '1 minute'"
        )
        return await original(password_hash, password)

    passwords.verify = verify_while_others_fail
    try:
        response = await client.post("/api/auth/login", json={"email": "burst@example.test", "password": PASSWORD})
        assert_problem(response, 429)
        assert int(response.headers["retry-after"]) > 0
        wrong = await client.post("/api/auth/login", json={"email": "burst@example.test", "password": "wrong pw!"})
        assert_problem(wrong, 429)
    finally:
        passwords.verify = original


async def test_one_address_may_create_only_so_many_accounts(make_settings, db: Db):
    async with app_client(create_app(make_settings(signup_address_limit=2))) as client:
        for n in range(2):
            await client.post(
                "/api/auth/signup", json={"email": f"bot{n}@example.test", "password": PASSWORD}, headers=ATTACKER
            )
        refused = await client.post(
            "/api/auth/signup", json={"email": "bot2@example.test", "password": PASSWORD}, headers=ATTACKER
        )
        assert_problem(refused, 429)
        assert 3500 <= int(refused.headers["retry-after"]) <= 3600
        assert await db.fetchval("SELECT count(*) FROM auth.users WHERE email = 'bot2@example.test'") == 0
        # another address is not affected
        await signup(client, "human@example.test", headers=OWNER)
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 3
