"""Browser-facing headers on every answer, Swagger UI without a CDN, /metrics not for the public."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no inline scripts, no CDN
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_every_kind_of_answer_carries_the_security_headers(gateway: httpx.AsyncClient, jwt_keys: JwtKeys):
    answers = [
        await gateway.get("/"),  # the web app
        await gateway.get("/docs"),
        await gateway.get("/api/tickets", headers=bearer(jwt_keys.token(role="user"))),  # forwarded
        await gateway.get("/api/tickets"),  # a 401 problem
        await gateway.get("/healthz"),
    ]
    for response in answers:
        assert_security_headers(response)


async def test_docs_load_swagger_ui_from_the_gateway_itself(gateway: httpx.AsyncClient):
    page = await gateway.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/docs/") for s in sources), sources
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    for source in sources:
        asset = await gateway.get(source)
        assert asset.status_code == 200, source
    bundle = await gateway.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert "/openapi.json" in (await gateway.get("/docs/init.js")).text
    assert (await gateway.get("/docs/assets/index.html")).status_code == 404
    assert (await gateway.get("/docs/assets/..%2f..%2f__init__.py")).status_code == 404


async def test_metrics_are_not_answered_without_the_metrics_token(
    gateway: httpx.AsyncClient, make_settings: Callable[..., GatewaySettings]
):
    assert (await gateway.get("/metrics")).status_code == 404
    async with app_client(create_app(make_settings(metrics_token="scrape-secret-123"))) as client:
        assert (await client.get("/metrics")).status_code == 404
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
        assert ok.status_code == 200
        assert "http_requests_total" in ok.text


async def test_internal_paths_are_never_answered(gateway: httpx.AsyncClient, jwt_keys: JwtKeys):
    admin = bearer(jwt_keys.token(role="admin"))
    for path in ("/internal/revocations", "/internal", "/api/../internal/revocations"):
        assert (await gateway.get(path, headers=admin)).status_code == 404
