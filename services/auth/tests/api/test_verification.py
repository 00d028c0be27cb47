"""Email verification: the signed link of the verification mail, resending it, and that only a
verified account may be given a staff role (issue 13, item 6)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from helpdesk_testing.plugin import JwtKeys, bearer
from shared.jwt import generate_keypair, issue_purpose_token

from ..helpers import Db, EventTap, assert_problem, make_user, signup, verify_by_link


async def state(db: Db, email: str) -> tuple[str, bool, int]:
    row = (await db.fetch("SELECT role, email_verified, revision FROM auth.users WHERE email = $1", email))[0]
    return row["role"], row["email_verified"], row["revision"]


async def updates_in_outbox(db: Db) -> int:
    return int(await db.fetchval("SELECT count(*) FROM auth.outbox WHERE routing_key = 'user.updated'"))


def link_token(keys: JwtKeys, user_id: str, *, audience: str = "helpdesk-email-verify", ttl_s: int = 3600) -> str:
    return issue_purpose_token(
        private_key_pem=keys.private_pem,
        issuer=keys.issuer,
        audience=audience,
        user_id=uuid.UUID(user_id),
        ttl=timedelta(seconds=ttl_s),
    )


async def test_signup_is_unverified_and_its_mailed_link_verifies_it_once(
    client: httpx.AsyncClient, db: Db, tap: EventTap
) -> None:
    user = (await signup(client, "fresh@example.test", name="Fresh"))["user"]
    assert user["email_verified"] is False
    [registered] = await tap.wait("user.registered", user["id"])
    assert registered.data["email_verified"] is False
    token = registered.data["verification_token"]
    assert token
    # the link is not an access token
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401

    answer = await client.post("/api/auth/verify", json={"token": token})
    assert answer.status_code == 200, answer.text
    assert answer.json()["email_verified"] is True
    assert await state(db, "fresh@example.test") == ("user", True, 1)
    [updated] = await tap.wait("user.updated", user["id"])
    assert updated.data["changed"] == ["email_verified"]
    assert updated.data["email_verified"] is True
    # a second click is harmless: nothing changes, nothing is announced
    again = await client.post("/api/auth/verify", json={"token": token})
    assert again.status_code == 200
    assert await state(db, "fresh@example.test") == ("user", True, 1)
    assert await updates_in_outbox(db) == 1


async def test_bad_verification_links_are_refused_and_change_nothing(
    client: httpx.AsyncClient, db: Db, jwt_keys: JwtKeys
) -> None:
    body = await signup(client, "target@example.test")
    user_id = body["user"]["id"]
    other_private, _ = generate_keypair()
    forged = issue_purpose_token(
        private_key_pem=other_private,
        issuer=jwt_keys.issuer,
        audience="helpdesk-email-verify",
        user_id=uuid.UUID(user_id),
        ttl=timedelta(hours=1),
    )
    bad_tokens = [
        body["token"],  # the access token
        link_token(jwt_keys, user_id, audience="helpdesk-password-setup"),  # another purpose
        link_token(jwt_keys, user_id, ttl_s=-10),  # expired
        forged,  # another key
        link_token(jwt_keys, str(uuid.uuid4())),  # nobody
        "not.a.token",
    ]
    for bad in bad_tokens:
        assert_problem(await client.post("/api/auth/verify", json={"token": bad}), 400)
    for malformed in ({}, {"token": ""}, {"token": "x", "extra": 1}):
        assert_problem(await client.post("/api/auth/verify", json=malformed), 422)
    # a disabled account cannot be verified either
    await db.execute("UPDATE auth.users SET active = false WHERE email = 'target@example.test'")
    assert_problem(await client.post("/api/auth/verify", json={"token": link_token(jwt_keys, user_id)}), 400)
    assert await state(db, "target@example.test") == ("user", False, 0)
    assert await updates_in_outbox(db) == 0


async def test_an_unverified_account_cannot_be_promoted(client: httpx.AsyncClient, db: Db, jwt_keys: JwtKeys) -> None:
    admin = await make_user(db, jwt_keys, "boss@example.test", "admin")
    user = (await signup(client, "future-staff@example.test"))["user"]
    for role in ("moderator", "admin"):
        refused = assert_problem(
            await client.post(
                "/api/auth/update-user",
                json={"email": "future-staff@example.test", "role": role, "skills": ["billing"]},
                headers=admin,
            ),
            409,
        )
        assert "not verified" in refused["detail"]
    assert await state(db, "future-staff@example.test") == ("user", False, 0)
    assert await db.fetchval("SELECT skills::text FROM auth.users WHERE email = 'future-staff@example.test'") == "[]"
    assert await updates_in_outbox(db) == 0
    # what is no promotion stays allowed: skills, disabling
    skills = await client.post(
        "/api/auth/update-user", json={"email": "future-staff@example.test", "skills": ["vpn"]}, headers=admin
    )
    assert skills.status_code == 200, skills.text
    # once the owner used the link, the promotion goes through
    await verify_by_link(client, jwt_keys, user["id"])
    promoted = await client.post(
        "/api/auth/update-user", json={"email": "future-staff@example.test", "role": "moderator"}, headers=admin
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "moderator"


async def test_unverified_can_still_use_their_account(client: httpx.AsyncClient) -> None:
    body = await signup(client, "newcomer@example.test")
    me = await client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["email_verified"] is False


async def test_resend_mails_a_fresh_link_a_few_times_an_hour(client: httpx.AsyncClient, db: Db, tap: EventTap) -> None:
    body = await signup(client, "forgetful@example.test")
    user_id, headers = body["user"]["id"], bearer(body["token"])
    assert_problem(await client.post("/api/auth/resend-verification"), 401)
    for _ in range(3):
        sent = await client.post("/api/auth/resend-verification", headers=headers)
        assert sent.status_code == 202, sent.text
    throttled = assert_problem(await client.post("/api/auth/resend-verification", headers=headers), 429)
    assert throttled["detail"]
    envelopes = await tap.wait("user.updated", user_id, count=3)
    tokens = {e.data["verification_token"] for e in envelopes}
    assert len(tokens) == 3
    assert all(e.data["changed"] == ["verification_requested"] for e in envelopes)
    # a request, not a change: the revision stays
    assert {e.data["revision"] for e in envelopes} == {0}
    assert await state(db, "forgetful@example.test") == ("user", False, 0)
    # any of them verifies; then resending is a conflict
    answer = await client.post("/api/auth/verify", json={"token": tokens.pop()})
    assert answer.json()["email_verified"] is True
    await db.execute("DELETE FROM auth.login_throttle")
    assert_problem(await client.post("/api/auth/resend-verification", headers=headers), 409)


async def test_setting_the_password_of_a_mailed_account_verifies_it(
    client: httpx.AsyncClient, db: Db, tap: EventTap
) -> None:
    made = (await client.post("/internal/requesters", json={"email": "mailer@example.test"})).json()["user"]
    assert made["email_verified"] is False
    [registered] = await tap.wait("user.registered", made["id"])
    assert registered.data["verification_token"] is None  # its welcome mail's link verifies
    token = registered.data["password_setup_token"]
    answer = await client.post("/api/auth/set-password", json={"token": token, "password": "a-new-password-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["email_verified"] is True
    assert await state(db, "mailer@example.test") == ("user", True, 1)
    [updated] = await tap.wait("user.updated", made["id"])
    assert updated.data["changed"] == ["email_verified"]
    assert updated.data["email_verified"] is True
