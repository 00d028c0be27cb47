"""What goes to a service and what comes back: method, path, query, body, headers, status, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer

from .conftest import StandIn, free_port

TICKET = "9b2f5f0e-8f5d-4c1e-9a7e-0a4f4c1d2e3f"


@pytest.fixture
def user(jwt_keys: JwtKeys) -> dict[str, str]:
    return bearer(jwt_keys.token(role="user"))


async def test_method_path_query_body_and_headers_reach_the_service(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], user: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    response = await gateway.patch(
        f"/api/tickets/{TICKET}",
        params=[("status", "open"), ("q", "a b&c"), ("m", marker)],
        content=b'{"status": "closed"}',
        headers={
            **user,
            "Content-Type": "application/json",
            "Accept-Language": "fr",
            "Cookie": "secret=1",
            "X-Internal-Secret": "client-made",
            "Connection": "keep-alive",
        },
    )
    assert response.status_code == 200, response.text
    (seen,) = upstreams["tickets"].requests_with(marker)
    assert seen["method"] == "PATCH"
    assert seen["path"] == f"/api/tickets/{TICKET}"
    assert seen["query"] == f"status=open&q=a+b%26c&m={marker}"
    assert seen["body"] == '{"status": "closed"}'
    headers = seen["headers"]
    assert headers["authorization"] == user["Authorization"]
    assert headers["content-type"] == "application/json"
    assert headers["accept-language"] == "fr"
    assert "cookie" not in headers
    assert "x-internal-secret" not in headers
    assert headers["x-forwarded-for"]


async def test_status_location_and_retry_after_come_back_and_internal_headers_do_not(
    gateway: httpx.AsyncClient, user: dict[str, str]
) -> None:
    response = await gateway.post(
        "/api/tickets",
        params={"_status": "201", "_location": f"/api/tickets/{TICKET}", "_retry_after": "7"},
        json={"title": "abc", "description": "d"},
        headers={**user, "Idempotency-Key": "k-1"},
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/tickets/{TICKET}"
    assert response.headers["retry-after"] == "7"
    assert response.json()["headers"]["idempotency-key"] == "k-1"
    assert response.headers["idempotent-replayed"] == "true"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["method"] == "POST"
    for dropped in ("x-internal-secret", "set-cookie"):
        assert dropped not in response.headers
    assert response.headers.get("server") != "upstream-server"
    assert len(response.headers.get_list("x-request-id")) == 1


async def test_error_statuses_and_empty_bodies_pass_through(gateway: httpx.AsyncClient, user: dict[str, str]) -> None:
    for status in (404, 409, 422, 429, 500):
        response = await gateway.get("/api/tickets", params={"_status": str(status)}, headers=user)
        assert response.status_code == status
    response = await gateway.delete(f"/api/tickets/{TICKET}", params={"_status": "204"}, headers=user)
    assert response.status_code == 204
    assert response.content == b""


async def test_a_location_naming_the_service_itself_is_made_relative(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], user: dict[str, str]
) -> None:
    internal = f"{upstreams['tickets'].url}/api/tickets/{TICKET}?x=1"
    response = await gateway.post(
        "/api/tickets", params={"_status": "307", "_location": internal}, json={}, headers=user
    )
    assert response.status_code == 307
    assert response.headers["location"] == f"/api/tickets/{TICKET}?x=1"


async def test_request_id_is_passed_on_and_returned(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], user: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    response = await gateway.get("/api/auth/me", params={"m": marker}, headers={**user, "X-Request-ID": "req-42.abc"})
    assert response.headers["x-request-id"] == "req-42.abc"
    assert upstreams["auth"].requests_with(marker)[0]["headers"]["x-request-id"] == "req-42.abc"

    marker = uuid.uuid4().hex
    response = await gateway.get("/api/auth/me", params={"m": marker}, headers=user)
    made = response.headers["x-request-id"]
    assert len(made) >= 16
    assert upstreams["auth"].requests_with(marker)[0]["headers"]["x-request-id"] == made

    # an unusable id is replaced, never passed on
    marker = uuid.uuid4().hex
    response = await gateway.get(
        "/api/auth/me", params={"m": marker}, headers={**user, "X-Request-ID": "bad id\twith spaces"}
    )
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert upstreams["auth"].requests_with(marker)[0]["headers"]["x-request-id"] == response.headers["x-request-id"]


async def test_bodies_over_the_limit_get_413_and_are_not_forwarded(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], user: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    big = ('{"m": "' + marker + '", "pad": "' + "x" * (64 * 1024) + '"}').encode()
    response = await gateway.post("/api/tickets", content=big, headers={**user, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert upstreams["tickets"].requests_with(marker) == []

    async def chunks() -> AsyncIterator[bytes]:
        yield ('{"m": "' + marker + '", "pad": "').encode()
        for _ in range(10):
            yield b"y" * 8192
        yield b'"}'

    # chunked: no Content-Length, the limit is enforced while streaming
    response = await gateway.post(
        "/api/tickets", content=chunks(), headers={**user, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert upstreams["tickets"].requests_with(marker) == []

    # the public routes too, before any token check
    response = await gateway.post("/api/auth/signup", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413

    # just under the limit passes
    ok = b'{"pad": "' + b"z" * (60 * 1024) + b'", "m": "' + marker.encode() + b'"}'
    response = await gateway.post("/api/tickets", content=ok, headers={**user, "Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(upstreams["tickets"].requests_with(marker)) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/",
        "/api/nope",
        "/api/auth",
        "/api/triage",
        "/api/internal/revocations",
        "/api/tickets/%2e%2e/%2e%2e/internal/revocations",
        "/api/tickets/..%2f..%2finternal/revocations",
        "/api/auth//users",
        "/api/auth/users/",
        "/api/tickets%2F..%2Finternal",
        "/internal/revocations",
        "/internal",
    ],
)
async def test_unknown_api_and_internal_paths_get_404_problem(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], jwt_keys: JwtKeys, path: str
) -> None:
    admin = bearer(jwt_keys.token(role="admin"))
    marker = uuid.uuid4().hex
    for method in ("GET", "POST"):
        response = await gateway.request(method, f"{path}?m={marker}", headers=admin)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for stand_in in upstreams.values():
        assert stand_in.requests_with(marker) == []


async def test_slow_service_gives_504_and_down_service_gives_503_without_internal_details(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys
) -> None:
    dead_port = free_port()
    settings = make_settings(notifier_url=f"http://127.0.0.1:{dead_port}", upstream_timeout=0.5)
    user = bearer(jwt_keys.token(role="user"))
    async with app_client(create_app(settings)) as client:
        response = await client.get("/api/notifications/preferences", headers=user)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"]
        assert "127.0.0.1" not in response.text
        assert str(dead_port) not in response.text
        assert "Traceback" not in response.text

        response = await client.get("/api/tickets", params={"_sleep": "2"}, headers=user)
        assert response.status_code == 504
        assert response.headers["content-type"] == "application/problem+json"
        assert "127.0.0.1" not in response.text

        # the others keep working
        assert (await client.get("/api/tickets", headers=user)).status_code == 200


async def test_a_service_dying_mid_request_gives_502_not_503(
    make_settings: Callable[..., GatewaySettings], jwt_keys: JwtKeys
) -> None:
    """503 says nothing happened; a connection cut after the request left says we do not know."""
    received: list[bytes] = []

    async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.transport.abort()  # like a process killed after reading the request

    server = await asyncio.start_server(read_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = make_settings(tickets_url=f"http://127.0.0.1:{port}")
    try:
        async with app_client(create_app(settings)) as client:
            response = await client.post(
                "/api/tickets", json={"title": "t", "description": "d"}, headers=bearer(jwt_keys.token(role="user"))
            )
    finally:
        server.close()
        await server.wait_closed()
    assert received
    assert received[0].startswith(b"POST /api/tickets")
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "may or may not have taken effect" in response.json()["detail"]
    assert str(port) not in response.text


async def test_readyz_follows_the_services_health(
    make_settings: Callable[..., GatewaySettings], gateway: httpx.AsyncClient
) -> None:
    response = await gateway.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"auth": True, "tickets": True, "triage": True, "notifier": True}

    settings = make_settings(triage_url=f"http://127.0.0.1:{free_port()}")
    async with app_client(create_app(settings)) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["triage"] is False
        assert (await client.get("/healthz")).status_code == 200
    settings = make_settings(triage_url=f"http://127.0.0.1:{free_port()}", ready_upstreams="auth,tickets")
    async with app_client(create_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 200


async def test_metrics_are_served_to_the_metrics_token(make_settings: Callable[..., GatewaySettings]) -> None:
    async with app_client(create_app(make_settings(metrics_token="scrape-token-1"))) as gateway:
        response = await gateway.get("/metrics", headers={"Authorization": "Bearer scrape-token-1"})
    assert response.status_code == 200
    assert "http_requests_total" in response.text


async def test_over_real_http_chunked_bodies_are_limited_and_ids_returned(
    make_settings: Callable[..., GatewaySettings], upstreams: dict[str, StandIn], jwt_keys: JwtKeys
) -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(make_settings()), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        user = {**bearer(jwt_keys.token()), "Content-Type": "application/json"}
        marker = uuid.uuid4().hex

        async def chunks(total: int) -> AsyncIterator[bytes]:
            yield ('{"m": "' + marker + '", "pad": "').encode()
            for _ in range(total // 4096):
                yield b"c" * 4096
            yield b'"}'

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            response = await client.post("/api/tickets", content=chunks(80 * 1024), headers=user)
            assert response.status_code == 413
            assert response.headers["content-type"] == "application/problem+json"
            assert upstreams["tickets"].requests_with(marker) == []

            response = await client.post(
                "/api/tickets", content=chunks(16 * 1024), headers={**user, "X-Request-ID": "real-http-1"}
            )
            assert response.status_code == 200
            assert response.headers["x-request-id"] == "real-http-1"
            (seen,) = upstreams["tickets"].requests_with(marker)
            assert seen["headers"]["x-request-id"] == "real-http-1"
            assert len(seen["body"]) > 16 * 1024
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_x_forwarded_for_names_the_client_only_behind_trusted_proxies(
    gateway: httpx.AsyncClient,
    upstreams: dict[str, StandIn],
    user: dict[str, str],
    make_settings: Callable[..., GatewaySettings],
) -> None:
    marker = uuid.uuid4().hex
    forged = {**user, "X-Forwarded-For": "1.2.3.4"}
    await gateway.get("/api/tickets", params={"m": marker}, headers=forged)
    # the test client is the peer and no proxy is trusted: what it claims is dropped
    assert upstreams["tickets"].requests_with(marker)[0]["headers"]["x-forwarded-for"] == "127.0.0.1"
    marker = uuid.uuid4().hex
    async with app_client(create_app(make_settings(trusted_proxies="127.0.0.1/32"))) as behind_proxy:
        await behind_proxy.get("/api/tickets", params={"m": marker}, headers=forged)
    assert upstreams["tickets"].requests_with(marker)[0]["headers"]["x-forwarded-for"] == "1.2.3.4"
