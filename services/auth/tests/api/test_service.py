"""What every route shares: OpenAPI, health, refusal of control characters and malformed requests."""

from __future__ import annotations

from helpdesk_testing.plugin import JwtKeys, wait_for

from ..helpers import PASSWORD, Db, assert_problem, make_user


async def test_openapi_shows_the_public_routes_but_not_internal_ones(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/auth/signup", "/api/auth/login", "/api/auth/me", "/api/auth/users", "/api/auth/update-user"} <= set(
        paths
    )
    assert not any(p.startswith("/internal") for p in paths)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}

    async def ready_now() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await wait_for(ready_now, timeout=15, message="auth never became ready")  # the bus connects in the background
    ready = await client.get("/readyz")
    # consuming: auth too takes user.updated revocations from a private queue
    assert ready.json()["checks"] == {"database": True, "broker": True, "consuming": True}


async def test_control_characters_anywhere_are_refused_not_crashed_on(client, db: Db, jwt_keys: JwtKeys):
    admin = await make_user(db, jwt_keys, "nul@example.test", "admin")
    for email in ("nul\x00@example.test", "a\x00b"):
        response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code in (401, 422), response.text
    # lower-casing makes this longer than the column that keys throttling
    response = await client.post("/api/auth/login", json={"email": "\u0130" * 320, "password": PASSWORD})
    assert_problem(response, 401)
    response = await client.post("/api/auth/login", json={"email": "nul@example.test", "password": "pw\x00pw"})
    assert_problem(response, 401)
    assert_problem(await client.get("/api/auth/users", params={"q": "a\x00b"}, headers=admin), 422)
    response = await client.post("/api/auth/update-user", json={"email": "nul@example.test\x00"}, headers=admin)
    assert_problem(response, 422)
    assert_problem(await client.get("/api/auth/users", params={"cursor": "\x00"}, headers=admin), 422)


async def test_malformed_requests_get_problem_documents(client):
    bad_utf8 = await client.post("/api/auth/login", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert_problem(bad_utf8, 422)
    assert_problem(await client.delete("/api/auth/me"), 405)
    assert_problem(await client.get("/api/auth/nowhere"), 404)
    form = await client.post("/api/auth/signup", data={"email": "f@example.test", "password": PASSWORD})
    assert_problem(form, 422)
