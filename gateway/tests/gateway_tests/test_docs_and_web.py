"""The merged OpenAPI document, /docs, and the web app with its client-side routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from gateway.app import create_app
from gateway.openapi import merge_documents
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import app_client

from .conftest import StandIn, free_port

VALIDATION = {"title": "HTTPValidationError", "type": "object", "properties": {"detail": {"type": "array"}}}


def _doc(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "svc", "version": "0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _op(ref: str | None = None, secured: bool = True) -> dict[str, Any]:
    invalid = {
        "description": "Validation Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    }
    op: dict[str, Any] = {"summary": "x", "responses": {"200": {"description": "ok"}, "422": invalid}}
    if ref:
        op["responses"]["200"]["content"] = {"application/json": {"schema": {"$ref": ref}}}
    if secured:
        op["security"] = [{"HTTPBearer": []}]
    return op


AUTH_DOC = _doc(
    {
        "/api/auth/login": {"post": _op("#/components/schemas/Token", secured=False)},
        "/api/auth/users": {"get": _op("#/components/schemas/UserPage")},
        "/api/auth/me": {"get": _op("#/components/schemas/User")},
        "/internal/revocations": {"get": _op()},
        "/healthz": {"get": _op(secured=False)},
    },
    {
        "Token": {"type": "object", "properties": {"user": {"$ref": "#/components/schemas/User"}}},
        "User": {"type": "object", "properties": {"email": {"type": "string"}}},
        "UserPage": {"type": "object", "properties": {"items": {"items": {"$ref": "#/components/schemas/User"}}}},
        "HTTPValidationError": VALIDATION,
    },
)
TICKETS_DOC = _doc(
    {
        "/api/tickets": {"post": _op("#/components/schemas/Ticket"), "get": _op()},
        "/api/tickets/{ticket_id}/retriage": {"post": _op()},
        "/internal/tickets/stats": {"get": _op()},
    },
    {
        "Ticket": {"type": "object", "properties": {"created_by": {"$ref": "#/components/schemas/User"}}},
        # same name as auth's User, other shape: must not overwrite it
        "User": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
        "HTTPValidationError": VALIDATION,
    },
)


def test_merge_keeps_public_paths_merges_components_and_adds_security() -> None:
    merged = merge_documents({"auth": AUTH_DOC, "tickets": TICKETS_DOC}, missing=["notifier"])
    assert set(merged["paths"]) == {
        "/api/auth/login",
        "/api/auth/users",
        "/api/auth/me",
        "/api/tickets",
        "/api/tickets/{ticket_id}/retriage",
    }
    schemes = merged["components"]["securitySchemes"]
    assert list(schemes) == ["bearerAuth"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    paths = merged["paths"]
    assert paths["/api/auth/login"]["post"]["security"] == []
    assert paths["/api/auth/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in paths["/api/auth/me"]["get"]["responses"]
    assert "403" not in paths["/api/auth/login"]["post"]["responses"]
    assert "403" in paths["/api/auth/users"]["get"]["responses"]
    assert "403" in paths["/api/tickets/{ticket_id}/retriage"]["post"]["responses"]
    assert "404" in paths["/api/tickets/{ticket_id}/retriage"]["post"]["responses"]
    assert "404" not in paths["/api/tickets"]["post"]["responses"]
    assert "413" in paths["/api/tickets"]["post"]["responses"]
    # errors are documented as what they are: problem documents
    for item in paths.values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert list(response["content"]) == ["application/problem+json"], (status, response)
    schemas = merged["components"]["schemas"]
    assert schemas["User"] == AUTH_DOC["components"]["schemas"]["User"]
    assert schemas["TicketsUser"] == TICKETS_DOC["components"]["schemas"]["User"]
    assert schemas["Ticket"]["properties"]["created_by"]["$ref"] == "#/components/schemas/TicketsUser"
    assert schemas["Token"]["properties"]["user"]["$ref"] == "#/components/schemas/User"
    assert "Problem" in schemas
    assert merged["x-unavailable-services"] == ["notifier"]
    # every $ref points at something that exists
    text = str(merged)
    for ref in {part.split("'")[0] for part in text.split("'#/components/schemas/")[1:]}:
        assert ref in schemas, ref


async def test_openapi_is_fetched_lazily_cached_and_retried_when_a_service_was_down(
    make_settings: Callable[..., GatewaySettings], upstreams: dict[str, StandIn]
) -> None:
    upstreams["auth"].openapi = AUTH_DOC
    upstreams["tickets"].openapi = TICKETS_DOC
    late = StandIn("notifier-late", port=free_port())
    late.openapi = _doc({"/api/notifications/preferences": {"get": _op(), "put": _op()}}, {})
    settings = make_settings(notifier_url=late.url, openapi_retry_s=0.2)
    try:
        async with app_client(create_app(settings)) as client:
            response = await client.get("/openapi.json")
            assert response.status_code == 200
            document = response.json()
            assert "/api/auth/login" in document["paths"]
            assert "/api/tickets" in document["paths"]
            assert "/internal/revocations" not in document["paths"]
            assert document["x-unavailable-services"] == ["notifier", "triage"]
            assert "/api/notifications/preferences" not in document["paths"]
            # cached: a service's document changing later does not matter
            upstreams["auth"].openapi = None
            await late.start()
            await asyncio.sleep(0.3)
            document = (await client.get("/openapi.json")).json()
            assert "/api/notifications/preferences" in document["paths"]
            assert "/api/auth/login" in document["paths"]
            assert document["x-unavailable-services"] == ["triage"]

            docs = await client.get("/docs")
            assert docs.status_code == 200
            assert "swagger" in docs.text.lower()
            assert "/docs/init.js" in docs.text
            assert "/openapi.json" in (await client.get("/docs/init.js")).text
    finally:
        await late.stop()
        upstreams["auth"].openapi = None
        upstreams["tickets"].openapi = None


async def test_web_app_files_and_client_side_routes(gateway: httpx.AsyncClient) -> None:
    index = await gateway.get("/")
    assert index.status_code == 200
    assert "helpdesk web" in index.text
    assert index.headers["content-type"].startswith("text/html")
    for route in ("/tickets", "/tickets/9b2f5f0e-8f5d-4c1e-9a7e-0a4f4c1d2e3f", "/admin/users"):
        response = await gateway.get(route)
        assert response.status_code == 200
        assert "helpdesk web" in response.text
    asset = await gateway.get("/assets/app-1234.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert (await gateway.get("/favicon.svg")).text == "<svg/>"
    missing = await gateway.get("/assets/missing-99.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    for escape in ("/..%2f..%2fetc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd"):
        response = await gateway.get(escape)
        assert "root:" not in response.text
    # the API and internal paths are never answered by the web app
    assert (await gateway.get("/api/whatever")).headers["content-type"] == "application/problem+json"
    assert (await gateway.get("/internal/revocations")).status_code == 404


async def test_without_a_web_build_only_the_api_answers(
    make_settings: Callable[..., GatewaySettings], tmp_path: Any
) -> None:
    async with app_client(create_app(make_settings(web_dir=str(tmp_path / "absent")))) as client:
        response = await client.get("/")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/healthz")).status_code == 200
