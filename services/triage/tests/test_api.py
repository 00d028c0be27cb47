"""The triage administration routes: admin only, RFC 9457 errors, 202s and the model status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from helpdesk_testing.plugin import JwtKeys, app_client, bearer, wait_for
from triage.app import create_app
from triage.settings import TriageSettings

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(make_settings: Callable[..., TriageSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(make_settings())) as c:
        yield c


@pytest.fixture
def admin(jwt_keys: JwtKeys) -> dict[str, str]:
    return bearer(jwt_keys.token(role="admin"))


def assert_problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = r.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/triage/categories"),
        ("PUT", "/api/triage/categories"),
        ("POST", "/api/triage/examples"),
        ("POST", "/api/triage/retrain"),
        ("GET", "/api/triage/model"),
        ("GET", "/api/triage/decisions"),
    ],
)
async def test_admin_only(client: httpx.AsyncClient, jwt_keys: JwtKeys, method: str, path: str) -> None:
    assert_problem(await client.request(method, path), 401)
    assert_problem(await client.request(method, path, headers=bearer("not.a.token")), 401)
    for role in ("user", "moderator"):
        r = await client.request(method, path, headers=bearer(jwt_keys.token(role=role)), json={})
        assert_problem(r, 403)


async def test_categories_roundtrip_and_validation(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.get("/api/triage/categories", headers=admin)
    assert r.status_code == 200
    defaults = r.json()["categories"]
    assert len(defaults) >= 2
    assert all(c["name"] for c in defaults)

    new = {
        "categories": [
            {"name": "Billing", "description": "invoices, refunds"},
            {"name": "Databases", "description": "postgres, mysql"},
        ]
    }
    r = await client.put("/api/triage/categories", headers=admin, json=new)
    assert r.status_code == 200
    assert r.json() == new
    r = await client.get("/api/triage/categories", headers=admin)
    assert r.json() == new

    bad = [
        {"categories": [{"name": "Only one"}]},
        {"categories": [{"name": "A"}, {"name": " a "}]},  # duplicate, folded
        {"categories": [{"name": "A"}, {"name": "x" * 65}]},
        {"categories": [{"name": "A"}, {"name": ""}]},
        {"categories": [{"name": "A"}, {"name": "B"}], "extra": 1},
        {"categories": [{"name": f"c{i}"} for i in range(101)]},
        # what Postgres cannot store must be a 422, not a 500 from the database (found by schemathesis)
        {"categories": [{"name": "A"}, {"name": "B", "description": "nul\u0000inside"}]},
        {"categories": [{"name": "A"}, {"name": "lone \ud800"}]},
    ]
    for body in bad:
        # sent as ASCII JSON, the way a client escapes "\u0000" and "\ud800"
        problem = assert_problem(
            await client.put(
                "/api/triage/categories",
                headers={**admin, "content-type": "application/json"},
                content=json.dumps(body),
            ),
            422,
        )
        assert problem["errors"]
    r = await client.get("/api/triage/categories", headers=admin)
    assert r.json() == new  # unchanged by the refused bodies


async def test_examples_import(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    cats = [c["name"] for c in (await client.get("/api/triage/categories", headers=admin)).json()["categories"]]
    example = {
        "title": "VPN drops",
        "description": "The VPN disconnects hourly",
        "category": cats[0],
        "priority": "high",
        "skills": ["VPN", "vpn", "Networking"],
    }
    r = await client.post("/api/triage/examples", headers=admin, json={"examples": [example] * 3})
    assert r.status_code == 202
    assert r.json() == {"accepted": 3}

    too_many = {"examples": [example] * 1001}
    assert_problem(await client.post("/api/triage/examples", headers=admin, json=too_many), 422)
    assert_problem(await client.post("/api/triage/examples", headers=admin, json={"examples": []}), 422)
    unknown = {"examples": [example, {**example, "category": "Astrology"}]}
    problem = assert_problem(await client.post("/api/triage/examples", headers=admin, json=unknown), 422)
    assert problem["errors"] == [
        {"loc": ["body", "examples", 1, "category"], "msg": "not a configured category", "type": "value_error"}
    ]
    for field, value in [("priority", "urgent"), ("title", ""), ("skills", ["x" * 65]), ("assignee", "mallory")]:
        body = {"examples": [{**example, field: value}]}
        assert_problem(await client.post("/api/triage/examples", headers=admin, json=body), 422)


async def test_many_examples_within_body_limit(
    make_settings: Callable[..., TriageSettings], admin: dict[str, str]
) -> None:
    # A full call: 1,000 examples of realistic size (~1 MB body).
    async with app_client(create_app(make_settings())) as client:
        cats = (await client.get("/api/triage/categories", headers=admin)).json()["categories"]
        ex = {
            "title": "Cannot log in",
            "description": "The login page loops. " * 40,
            "category": cats[0]["name"],
            "priority": "low",
            "skills": ["SSO"],
        }
        r = await client.post("/api/triage/examples", headers=admin, json={"examples": [ex] * 1000})
        assert r.status_code == 202
        assert r.json() == {"accepted": 1000}


async def test_retrain_swaps_in_a_new_version(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.get("/api/triage/model", headers=admin)
    assert r.status_code == 200
    first = r.json()
    assert first["version"] == 1
    assert first["provider"] == "local"
    assert first["examples"] > 0
    assert set(first["metrics"]) >= {"category_accuracy", "priority_accuracy"}

    r = await client.post("/api/triage/retrain", headers=admin)
    assert r.status_code == 202
    assert r.json()["status"] in ("started", "already_training")

    async def newer() -> dict[str, object] | None:
        body = (await client.get("/api/triage/model", headers=admin)).json()
        return body if body["version"] == 2 and not body["training"] else None

    second = await wait_for(newer, timeout=60, message="model version 2")
    assert second["trained_at"] >= first["trained_at"]


async def test_decisions_validation(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.get("/api/triage/decisions", headers=admin)
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}
    assert_problem(await client.get("/api/triage/decisions", headers=admin, params={"ticket_id": "nope"}), 422)
    assert_problem(await client.get("/api/triage/decisions", headers=admin, params={"limit": 0}), 422)
    assert_problem(await client.get("/api/triage/decisions", headers=admin, params={"cursor": "garbage!"}), 422)
