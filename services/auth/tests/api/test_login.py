"""POST /api/auth/login: tokens for the right password, throttling of guesses, rehashing."""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher
from auth.app import create_app
from helpdesk_testing.plugin import app_client, bearer

from ..helpers import ATTACKER, OWNER, PASSWORD, Db, assert_problem, login, signup

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
