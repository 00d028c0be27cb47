"""No body is read before the caller is known, and only admins get the import limit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer

from .conftest import StandIn

IMPORT = "/api/triage/examples"
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
async def gateway_app(make_settings: Callable[..., GatewaySettings]) -> AsyncIterator[Any]:
    app = create_app(make_settings())
    async with app_client(app):
        yield app


async def call_counting_reads(app: Any, path: str, headers: dict[str, str], chunks: int) -> tuple[int, int]:
    """POST a chunked body of `chunks` × 64 KiB straight to the ASGI app: (status, bytes it read)."""
    read = 0
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal read, sent
        if sent >= chunks:
            return {"type": "http.disconnect"}
        sent += 1
        read += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": sent < chunks}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return status, read


@pytest.mark.parametrize(("role", "expected"), [(None, 401), ("user", 403), ("moderator", 403)])
async def test_the_import_route_reads_nothing_before_the_caller_is_authorised(
    gateway_app: Any, jwt_keys: JwtKeys, role: str | None, expected: int
) -> None:
    headers = bearer(jwt_keys.token(role=role)) if role else {}
    status, read = await call_counting_reads(gateway_app, IMPORT, headers, chunks=128)  # 8 MiB offered
    assert status == expected
    assert read == 0


async def test_a_bad_token_reads_nothing_on_any_route(gateway_app: Any) -> None:
    status, read = await call_counting_reads(gateway_app, "/api/tickets", {"Authorization": "Bearer x.y.z"}, 4)
    assert (status, read) == (401, 0)


async def test_the_import_limit_is_for_admins_only(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], jwt_keys: JwtKeys
) -> None:
    marker = uuid.uuid4().hex
    big = ('{"m": "' + marker + '", "pad": "' + "x" * (1024 * 1024) + '"}').encode()
    admin = {**bearer(jwt_keys.token(role="admin")), "Content-Type": "application/json"}
    response = await gateway.post(IMPORT, content=big, headers=admin)
    assert response.status_code == 200
    assert len(upstreams["triage"].requests_with(marker)) == 1
    # an admin's other routes keep the ordinary limit
    response = await gateway.post("/api/tickets", content=big, headers=admin)
    assert response.status_code == 413
    # a public route gets the ordinary limit, by header and while streaming
    response = await gateway.post("/api/auth/signup", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_a_public_route_stops_reading_at_the_limit(gateway_app: Any) -> None:
    status, read = await call_counting_reads(gateway_app, "/api/auth/login", {}, chunks=128)
    assert status == 413
    assert read <= 64 * 1024 + CHUNK
