"""POST /internal/requesters: the account of a support mail's sender (inbound mail, tickets)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from auth.app import create_app
from auth.settings import AuthSettings
from shared.testing.plugin import app_client

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
