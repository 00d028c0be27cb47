"""The request's unit of work: a commit that fails is an error answer, never a 201."""

from __future__ import annotations

from collections.abc import Callable

from auth.app import create_app
from auth.settings import AuthSettings
from helpdesk_testing.plugin import app_client, refused_commits

from .helpers import PASSWORD, Db, assert_problem


async def test_a_failed_commit_is_a_problem_not_a_201(make_settings: Callable[..., AuthSettings], db: Db) -> None:
    await db.reset()
    app = create_app(make_settings())
    async with app_client(app, raise_app_exceptions=False) as client:
        with refused_commits(app):
            response = await client.post("/api/auth/signup", json={"email": "lost@example.test", "password": PASSWORD})
        assert_problem(response, 500)
        assert await db.fetchval("SELECT count(*) FROM auth.users WHERE email = 'lost@example.test'") == 0
        # the next request, committed normally, is stored
        response = await client.post("/api/auth/signup", json={"email": "kept@example.test", "password": PASSWORD})
        assert response.status_code == 201, response.text
