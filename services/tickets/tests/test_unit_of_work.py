"""The request's unit of work: a commit that fails is an error answer, never a 201."""

from __future__ import annotations

import httpx
from helpdesk_testing.plugin import refused_commits

from .conftest import Kit


async def test_a_failed_commit_is_a_problem_not_a_201(kit: Kit) -> None:
    owner = kit.person("user")
    ticket = await kit.create(owner)
    # the session app's client re-raises app errors; this one sees the 500 a real caller gets
    transport = httpx.ASGITransport(app=kit.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with refused_commits(kit.app):
            response = await client.post(
                f"/api/tickets/{ticket['id']}/comments", json={"body": "never stored"}, headers=owner.headers
            )
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 500
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments") == 0
