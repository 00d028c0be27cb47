"""A user whose role is lowered or who is disabled loses their older tokens at the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer, wait_for
from shared.bus import Bus
from shared.events import Envelope, UserUpdated

from .conftest import StandIn


@pytest.fixture(scope="module")
async def publisher(rabbitmq_url: str) -> AsyncIterator[Bus]:
    bus = Bus(rabbitmq_url, service="gateway-tests")
    await bus.start()
    assert await bus.wait_connected(15)
    yield bus
    await bus.close()


def _updated(user_id: uuid.UUID, *, valid_after: datetime | None, role: str = "user", active: bool = True) -> Envelope:
    return Envelope.wrap(
        UserUpdated(
            user_id=user_id,
            email=f"{user_id.hex[:8]}@example.test",
            name="Someone",
            role=role,  # type: ignore[arg-type]
            active=active,
            tokens_valid_after=valid_after,
            changed=["role"],
        )
    )


async def _status(client: httpx.AsyncClient, token: str, path: str = "/api/auth/me") -> int:
    return (await client.get(path, headers=bearer(token))).status_code


async def test_user_updated_event_revokes_older_tokens_within_seconds(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys, publisher: Bus
) -> None:
    app = create_app(make_settings())
    async with app_client(app) as client:
        assert await app.state.bus.wait_connected(15)
        now = datetime.now(UTC)
        demoted = uuid.uuid4()
        old_admin = jwt_keys.token(role="admin", user_id=demoted, now=now - timedelta(seconds=30))
        bystander = jwt_keys.token(role="admin", now=now - timedelta(seconds=30))
        assert await _status(client, old_admin, "/api/auth/users") == 200

        await publisher.publish(_updated(demoted, valid_after=now - timedelta(seconds=1)))

        async def refused() -> bool:
            return await _status(client, old_admin, "/api/auth/users") == 401

        await wait_for(refused, timeout=3, message="the old token to be refused")
        response = await client.get("/api/auth/me", headers=bearer(old_admin))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        # a token issued after the change works, with the new role
        new_user = jwt_keys.token(role="user", user_id=demoted)
        assert await _status(client, new_user) == 200
        assert await _status(client, new_user, "/api/auth/users") == 403
        # other users are untouched
        assert await _status(client, bystander, "/api/auth/users") == 200


async def test_disabling_a_user_revokes_their_tokens_even_without_a_timestamp(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys, publisher: Bus
) -> None:
    app = create_app(make_settings())
    async with app_client(app) as client:
        assert await app.state.bus.wait_connected(15)
        disabled = uuid.uuid4()
        token = jwt_keys.token(user_id=disabled, now=datetime.now(UTC) - timedelta(seconds=5))
        assert await _status(client, token) == 200
        await publisher.publish(_updated(disabled, valid_after=None, active=False))

        async def refused() -> bool:
            return await _status(client, token) == 401

        await wait_for(refused, timeout=3, message="the disabled user's token to be refused")


async def test_start_up_fetch_of_revocations(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys, upstreams: dict[str, StandIn]
) -> None:
    revoked = uuid.uuid4()
    now = datetime.now(UTC)
    upstreams["auth"].revocations = [
        {"user_id": str(revoked), "tokens_valid_after": (now - timedelta(seconds=2)).isoformat()},
    ]
    upstreams["auth"].revocation_queries.clear()
    old = jwt_keys.token(user_id=revoked, now=now - timedelta(seconds=60))
    fresh = jwt_keys.token(user_id=revoked)
    try:
        # no broker for this gateway: the fetch alone must do it
        app = create_app(make_settings(rabbitmq_url="amqp://guest:guest@127.0.0.1:1/none"))
        async with app_client(app) as client:

            async def refused() -> bool:
                return await _status(client, old) == 401

            await wait_for(refused, timeout=3, message="the start-up fetch to revoke the old token")
            assert await _status(client, fresh) == 200
    finally:
        upstreams["auth"].revocations = []
    since = datetime.fromisoformat(upstreams["auth"].revocation_queries[0]["since"].replace("Z", "+00:00"))
    # token lifetime (15 min) plus a minute
    assert timedelta(minutes=15) < now - since < timedelta(minutes=17)


async def test_periodic_refresh_catches_missed_events(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys, upstreams: dict[str, StandIn]
) -> None:
    revoked = uuid.uuid4()
    old = jwt_keys.token(user_id=revoked, now=datetime.now(UTC) - timedelta(seconds=60))
    app = create_app(make_settings(revocation_refresh_s=0.5))
    async with app_client(app) as client:
        assert await _status(client, old) == 200
        upstreams["auth"].revocations = [
            {"user_id": str(revoked), "tokens_valid_after": datetime.now(UTC).isoformat()},
        ]
        try:

            async def refused() -> bool:
                return await _status(client, old) == 401

            await wait_for(refused, timeout=4, message="the periodic refresh to revoke the old token")
        finally:
            upstreams["auth"].revocations = []


async def test_a_malformed_event_changes_nothing(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys, publisher: Bus
) -> None:
    app = create_app(make_settings())
    async with app_client(app) as client:
        assert await app.state.bus.wait_connected(15)
        user = uuid.uuid4()
        token = jwt_keys.token(user_id=user)
        await publisher.publish(Envelope(type="user.updated", data={"user_id": "not-a-uuid"}))
        revoked = uuid.uuid4()
        await publisher.publish(_updated(revoked, valid_after=datetime.now(UTC) + timedelta(seconds=5)))
        revoked_token = jwt_keys.token(user_id=revoked)

        async def refused() -> bool:
            return await _status(client, revoked_token) == 401

        # the event after the malformed one still applies, and the gateway still answers
        await wait_for(refused, timeout=3, message="the event after a malformed one")
        assert await _status(client, token) == 200
