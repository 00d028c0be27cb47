"""POST /internal/requesters: the account of a support mail's sender (inbound mail, tickets)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from auth.app import create_app
from auth.settings import AuthSettings
from helpdesk_testing.plugin import app_client

from .helpers import Db, login, signup


@pytest.fixture(scope="module")
async def client(make_settings: Callable[..., AuthSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(make_settings())) as client:
        yield client


@pytest.fixture(autouse=True)
async def clean(db: Db) -> None:
    await db.reset()


async def test_unknown_sender_gets_a_passwordless_user_account_once(client: httpx.AsyncClient, db: Db) -> None:
    first = await client.post("/internal/requesters", json={"email": "New.Sender@Example.com", "name": "New Sender"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["created"] is True
    assert body["user"]["email"] == "new.sender@example.com"
    assert body["user"]["role"] == "user"
    again = await client.post("/internal/requesters", json={"email": "new.sender@example.com"})
    assert again.json() == {**body, "created": False}
    assert await db.fetchval("SELECT count(*) FROM auth.users WHERE email = 'new.sender@example.com'") == 1
    # no password works until the owner sets one
    refused = await client.post("/api/auth/login", json={"email": "new.sender@example.com", "password": "!no-password"})
    assert refused.status_code == 401


async def test_known_sender_is_that_user(client: httpx.AsyncClient) -> None:
    user = (await signup(client, "known@example.com"))["user"]
    answer = await client.post("/internal/requesters", json={"email": "KNOWN@example.com"})
    assert answer.json()["user"]["id"] == user["id"]
    assert answer.json()["created"] is False
    await login(client, "known@example.com")


async def test_bad_input_is_refused(client: httpx.AsyncClient) -> None:
    for body in ({"email": "not an address"}, {"email": "a@b.example", "role": "admin"}, {}):
        assert (await client.post("/internal/requesters", json=body)).status_code == 422


async def _setup_token(db: Db, user_id: str) -> str | None:
    import json

    rows = await db.fetch("SELECT envelope::text AS e FROM auth.outbox WHERE routing_key = 'user.registered'")
    for row in rows:
        data = json.loads(row["e"])["data"]
        if data["user_id"] == user_id:
            return data.get("password_setup_token")  # type: ignore[no-any-return]
    return None


async def test_the_welcome_event_carries_a_one_use_password_link(client: httpx.AsyncClient, db: Db) -> None:
    made = (await client.post("/internal/requesters", json={"email": "link@example.com"})).json()["user"]
    token = await _setup_token(db, made["id"])
    assert token
    # the link is not an access token
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    answer = await client.post("/api/auth/set-password", json={"token": token, "password": "a-new-password-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["id"] == made["id"]
    await login(client, "link@example.com", "a-new-password-1")
    # spent: a second use (someone who saw the mail later) changes nothing
    again = await client.post("/api/auth/set-password", json={"token": token, "password": "attacker-password"})
    assert again.status_code == 400
    await login(client, "link@example.com", "a-new-password-1")


async def test_signups_get_no_link_and_bad_links_are_refused(client: httpx.AsyncClient, db: Db) -> None:
    user = (await signup(client, "normal@example.com"))["user"]
    assert await _setup_token(db, user["id"]) is None
    token = (await login(client, "normal@example.com"))["token"]
    # an access token is not a setup link, nor is garbage
    for bad in (token, "not.a.token", "x"):
        refused = await client.post("/api/auth/set-password", json={"token": bad, "password": "another-password"})
        assert refused.status_code == 400
    short = await client.post("/api/auth/set-password", json={"token": "x", "password": "short"})
    assert short.status_code == 422
