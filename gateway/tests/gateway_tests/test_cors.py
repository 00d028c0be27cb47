"""CORS_ALLOWED_ORIGINS: preflight and simple requests on /api and /compat/api, nothing elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client, bearer

ORIGIN = "http://client.example:5173"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.fixture
async def cors_gateway(make_settings: Callable[..., GatewaySettings]) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(cors_allowed_origins=f"{ORIGIN}, https://other.example/")
    async with app_client(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/tickets", "/api/auth/login", "/compat/api/tickets", "/compat/api/auth/signup"])
async def test_preflight_from_an_allowed_origin_is_answered(cors_gateway: httpx.AsyncClient, path: str) -> None:
    response = await cors_gateway.options(path, headers=PREFLIGHT)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "access-control-allow-credentials" not in response.headers


async def test_actual_request_carries_the_origin_and_exposed_headers(
    cors_gateway: httpx.AsyncClient, jwt_keys: JwtKeys
) -> None:
    response = await cors_gateway.get(
        "/api/tickets", headers={"Origin": "https://other.example", **bearer(jwt_keys.token(role="user"))}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://other.example"
    assert "location" in response.headers["access-control-expose-headers"].lower()
    # refusals too, or the browser hides the 401 from the client
    response = await cors_gateway.get("/api/tickets", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_other_origins_get_no_grant(cors_gateway: httpx.AsyncClient) -> None:
    response = await cors_gateway.options("/api/tickets", headers={**PREFLIGHT, "Origin": "http://evil.example"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    response = await cors_gateway.get("/api/tickets", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_only_api_paths_answer_cross_origin(cors_gateway: httpx.AsyncClient) -> None:
    response = await cors_gateway.get("/", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    response = await cors_gateway.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_no_origin_is_allowed_by_default(gateway: httpx.AsyncClient) -> None:
    response = await gateway.options("/api/tickets", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code in (404, 405)
    response = await gateway.get("/api/auth/me", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_compat_refusals_have_the_original_error_shape(gateway: httpx.AsyncClient, jwt_keys: JwtKeys) -> None:
    response = await gateway.get("/compat/api/tickets")
    assert response.status_code == 401
    assert response.json()["error"] == response.json()["message"]
    user = bearer(jwt_keys.token(role="user"))
    response = await gateway.get("/compat/api/auth/users", headers=user)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden", "error": "Forbidden"}
    response = await gateway.get("/compat/api/tickets/not-a-uuid", headers=user)
    assert response.status_code == 404
    assert (await gateway.post("/compat/api/tickets", headers=user, content=b"[1]")).status_code == 400
    assert (await gateway.get("/compat/api/nothing-here", headers=user)).status_code == 404


def test_compat_shapes() -> None:
    from gateway.compat import compat_ticket, compat_user

    ticket = {
        "id": "t1",
        "title": "T",
        "description": "D",
        "status": "in_progress",
        "priority": "high",
        "category": "Billing",
        "created_by": {"id": "u1", "name": "U", "email": "u@x"},
        "assigned_to": {"id": "m1", "name": "M", "email": "m@x"},
        "due_at": "2026-01-01T00:00:00Z",
        "created_at": "2025-12-31T00:00:00Z",
        "updated_at": "2025-12-31T00:00:00Z",
        "triage": {"state": "done"},
    }
    shaped = compat_ticket(ticket)
    assert shaped["_id"] == "t1"
    assert shaped["status"] == "IN_PROGRESS"
    assert shaped["createdBy"] == "u1"
    assert shaped["assignedTo"] == {"_id": "m1", "email": "m@x", "name": "M"}
    assert shaped["createdAt"] == "2025-12-31T00:00:00Z"
    assert "helpfulNotes" not in shaped  # a requester's view has none
    staff = compat_ticket({**ticket, "helpful_notes": "N", "related_skills": ["billing"]})
    assert (staff["helpfulNotes"], staff["relatedSkills"]) == ("N", ["billing"])
    user = compat_user(
        {
            "id": "u1",
            "email": "u@x",
            "name": "U",
            "role": "user",
            "skills": None,
            "created_at": "c",
            "password_hash": "never",
        }
    )
    assert user == {"_id": "u1", "email": "u@x", "name": "U", "role": "user", "skills": [], "createdAt": "c"}
