"""POST /api/auth/signup: the account it makes, the input it refuses, how many one address may make."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import jwt as pyjwt
import pytest
from auth.app import create_app
from helpdesk_testing.plugin import JwtKeys, app_client

from ..helpers import ATTACKER, OWNER, PASSWORD, Db, assert_problem, signup

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
