"""What auth publishes really reaches the bus: user.registered, user.updated, broker outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import datetime

import httpx
import pytest
from auth import service
from auth.app import create_app
from auth.settings import AuthSettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer, wait_for
from helpdesk_testing.proxy import TcpProxy
from shared.db import create_engine, create_sessionmaker
from shared.events import UserRegistered, UserUpdated

from .helpers import PASSWORD, Db, EventTap, login, make_user, signup, verify_from_mail_event


@pytest.fixture(autouse=True)
async def clean(db: Db) -> None:
    await db.reset()


@pytest.fixture
async def client(make_settings: Callable[..., AuthSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(make_settings())) as client:
        yield client


def proxied(url: str, proxy: TcpProxy) -> str:
    head, vhost = url.rsplit("/", 1)
    return f"{head.split('@')[0]}@127.0.0.1:{proxy.port}/{vhost}"


async def test_signup_publishes_user_registered(client, tap: EventTap):
    body = await signup(client, "Newbie@Example.test", name="New Bie")
    user = body["user"]
    [envelope] = await tap.wait("user.registered", user["id"])
    event = envelope.payload()
    assert isinstance(event, UserRegistered)
    assert str(event.user_id) == user["id"]
    assert event.email == "newbie@example.test"
    assert event.name == "New Bie"
    assert event.role == "user"
    assert event.skills == []
    assert event.created_at == datetime.fromisoformat(user["created_at"])
    assert envelope.version == 1


async def test_update_user_publishes_user_updated_with_changes_and_revisions(
    client, db: Db, tap: EventTap, jwt_keys: JwtKeys
):
    admin = await make_user(db, jwt_keys, "admin@example.test", "admin")
    user = (await signup(client, "staff@example.test"))["user"]
    await verify_from_mail_event(client, tap, user["id"])
    await client.post(
        "/api/auth/update-user",
        json={"email": "staff@example.test", "role": "moderator", "skills": ["Billing", "billing", "VPN"]},
        headers=admin,
    )
    await client.post("/api/auth/update-user", json={"email": "staff@example.test", "role": "user"}, headers=admin)
    # no change, no event
    await client.post("/api/auth/update-user", json={"email": "staff@example.test", "role": "user"}, headers=admin)
    await client.post("/api/auth/update-user", json={"email": "staff@example.test", "active": False}, headers=admin)
    envelopes = await tap.wait("user.updated", user["id"], count=4)
    events = sorted((e.payload() for e in envelopes), key=lambda e: e.revision)  # type: ignore[attr-defined]
    assert all(isinstance(e, UserUpdated) for e in events)
    verified, promoted, demoted, disabled = events
    assert [e.revision for e in events] == [1, 2, 3, 4]
    assert verified.changed == ["email_verified"]
    assert all(e.email_verified for e in events)
    assert promoted.changed == ["role", "skills"]
    assert promoted.role == "moderator"
    assert promoted.skills == ["Billing", "VPN"]
    assert promoted.tokens_valid_after is None
    assert demoted.changed == ["role"]
    assert demoted.role == "user"
    assert demoted.tokens_valid_after is not None
    assert disabled.changed == ["active"]
    assert disabled.active is False
    assert disabled.tokens_valid_after > demoted.tokens_valid_after
    await asyncio.sleep(0.5)
    assert len(tap.of("user.updated", user["id"])) == 4
    row = (await db.fetch("SELECT revision, tokens_valid_after FROM auth.users WHERE id = $1", uuid.UUID(user["id"])))[
        0
    ]
    assert row["revision"] == 4
    assert row["tokens_valid_after"] == disabled.tokens_valid_after


async def test_signup_while_the_broker_is_down_is_published_when_it_returns(
    make_settings: Callable[..., AuthSettings], auth_vhost: str, db: Db, tap: EventTap
):
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    await proxy.cut()
    settings = make_settings(rabbitmq_url=proxied(auth_vhost, proxy))
    try:
        async with app_client(create_app(settings)) as client:
            body = await signup(client, "offline@example.test")
            user_id = body["user"]["id"]
            assert (await client.get("/readyz")).status_code == 503
            await asyncio.sleep(1.5)
            assert tap.of("user.registered", user_id) == []
            unsent = "SELECT count(*) FROM auth.outbox WHERE published_at IS NULL"
            assert await db.fetchval(unsent) == 1
            await proxy.restore()
            [envelope] = await tap.wait("user.registered", user_id, timeout=30)
            assert envelope.data["email"] == "offline@example.test"
            await wait_for(lambda: _zero(db, unsent), timeout=10, message="outbox row marked sent")
    finally:
        await proxy.close()


async def _zero(db: Db, sql: str) -> bool:
    return await db.fetchval(sql) == 0


# --- the first admin ------------------------------------------------------------------------


async def test_bootstrap_admin_is_created_once_by_two_processes_starting_together(
    make_settings: Callable[..., AuthSettings], db: Db, tap: EventTap
):
    settings = make_settings(bootstrap_admin_email="Root@Example.test", bootstrap_admin_password="bootstrap-pw-1")
    async with AsyncExitStack() as stack:
        clients = await asyncio.gather(*(stack.enter_async_context(app_client(create_app(settings))) for _ in range(2)))
        admins = await db.fetch("SELECT id, email, role FROM auth.users")
        assert [(r["email"], r["role"]) for r in admins] == [("root@example.test", "admin")]
        body = await login(clients[1], "root@example.test", "bootstrap-pw-1")
        assert body["user"]["role"] == "admin"
        # the deployer chose the address: the first admin needs no verification mail
        assert body["user"]["email_verified"] is True
        users = await clients[0].get("/api/auth/users", headers=bearer(body["token"]))
        assert users.status_code == 200
    # a later start finds the admin and does nothing (its relay publishes what the two left unsent)
    async with app_client(create_app(settings)):
        assert await db.fetchval("SELECT count(*) FROM auth.users") == 1
        registered = await tap.wait("user.registered", admins[0]["id"])
    assert registered[0].data["role"] == "admin"
    assert registered[0].data["email_verified"] is True
    assert registered[0].data["verification_token"] is None
    await asyncio.sleep(0.5)
    assert len(tap.of("user.registered")) == 1


async def test_bootstrap_takes_over_an_account_squatting_its_email(
    make_settings: Callable[..., AuthSettings], client: httpx.AsyncClient, db: Db
):
    squatter = await signup(client, "root@example.test", password="squatter-passphrase")
    settings = make_settings(bootstrap_admin_email="root@example.test", bootstrap_admin_password="bootstrap-pw-1")
    async with app_client(create_app(settings)) as fresh:
        squatter_login = {"email": "root@example.test", "password": "squatter-passphrase"}
        response = await fresh.post("/api/auth/login", json=squatter_login)
        assert response.status_code == 401
        assert (await fresh.get("/api/auth/me", headers=bearer(squatter["token"]))).status_code == 401
        body = await login(fresh, "root@example.test", "bootstrap-pw-1")
        assert body["user"]["role"] == "admin"
        assert body["user"]["id"] == squatter["user"]["id"]
        assert body["user"]["email_verified"] is True


async def test_no_bootstrap_without_both_settings(make_settings: Callable[..., AuthSettings], db: Db):
    async with app_client(create_app(make_settings(bootstrap_admin_email="root@example.test"))):
        pass
    assert await db.fetchval("SELECT count(*) FROM auth.users") == 0


async def test_signup_never_makes_anything_but_a_user(client, db: Db):
    response = await client.post(
        "/api/auth/signup", json={"email": "sneaky@example.test", "password": PASSWORD, "role": "admin"}
    )
    assert response.status_code == 422
    body = await signup(client, "sneaky@example.test")
    assert body["user"]["role"] == "user"
    assert await db.fetchval("SELECT role FROM auth.users") == "user"


async def test_bootstrap_transactions_that_overlap_create_one_admin(auth_db, db: Db):
    engine = create_engine(auth_db.url("auth"))
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as first, first.begin():
            created = await service.bootstrap_admin(session=first, email="root@example.test", password_hash="h")
            assert created is not None
            # a second process gets as far as the admin lock and waits there
            second = asyncio.create_task(_bootstrap_in_own_transaction(sessions))
            await asyncio.sleep(0.5)
            assert not second.done()
        assert await second is None
    finally:
        await engine.dispose()
    assert await db.fetchval("SELECT count(*) FROM auth.users WHERE role = 'admin'") == 1
    assert await db.fetchval("SELECT count(*) FROM auth.outbox WHERE routing_key = 'user.registered'") == 1


async def _bootstrap_in_own_transaction(sessions) -> object:
    async with sessions() as session, session.begin():
        return await service.bootstrap_admin(session=session, email="root@example.test", password_hash="h")
