"""The request's unit of work: a commit that fails is an error answer, never a 200."""

from __future__ import annotations

from collections.abc import Callable

from helpdesk_testing.plugin import JwtKeys, app_client, bearer, refused_commits
from triage.app import create_app
from triage.settings import TriageSettings

from .test_api import assert_problem


async def test_a_failed_commit_is_a_problem_not_a_200(
    make_settings: Callable[..., TriageSettings], jwt_keys: JwtKeys
) -> None:
    admin = bearer(jwt_keys.token(role="admin"))
    app = create_app(make_settings())
    async with app_client(app, raise_app_exceptions=False) as client:
        before = (await client.get("/api/triage/categories", headers=admin)).json()
        with refused_commits(app):
            response = await client.put(
                "/api/triage/categories",
                json={"categories": [{"name": n, "description": "never stored"} for n in ("Lost", "Gone")]},
                headers=admin,
            )
        assert_problem(response, 500)
        assert not app.state.models.training  # no retraining for categories that were not stored
        assert (await client.get("/api/triage/categories", headers=admin)).json() == before
