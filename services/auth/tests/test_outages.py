"""Postgres cut away (through a TcpProxy): clean 503 problems, and service again once it is back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auth.app import create_app
from auth.settings import AuthSettings
from helpdesk_testing.plugin import TestDatabase, app_client, bearer
from helpdesk_testing.proxy import TcpProxy

from .helpers import PASSWORD, Db, signup


@pytest.fixture(autouse=True)
async def clean(db: Db) -> None:
    await db.reset()


async def test_database_outage_gives_503_and_recovers(
    make_settings: Callable[..., AuthSettings], auth_db: TestDatabase
):
    proxy = await TcpProxy(auth_db.host, auth_db.port).start()
    settings = make_settings(database_url=auth_db.url("auth", host="127.0.0.1", port=proxy.port))
    try:
        async with app_client(create_app(settings)) as client:
            created = await signup(client, "steady@example.test")
            await proxy.cut()
            for method, path, kwargs in (
                ("POST", "/api/auth/login", {"json": {"email": "steady@example.test", "password": PASSWORD}}),
                ("POST", "/api/auth/signup", {"json": {"email": "new@example.test", "password": PASSWORD}}),
                ("GET", "/api/auth/me", {"headers": bearer(created["token"])}),
            ):
                response = await client.request(method, path, **kwargs)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert "asyncpg" not in response.text
                assert "127.0.0.1" not in response.text
            assert (await client.get("/readyz")).status_code == 503
            await proxy.restore()
            response = await client.post("/api/auth/login", json={"email": "steady@example.test", "password": PASSWORD})
            assert response.status_code == 200, response.text
            assert (await client.get("/api/auth/me", headers=bearer(created["token"]))).status_code == 200
    finally:
        await proxy.close()
