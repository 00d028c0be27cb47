"""The request's unit of work: a commit that fails is an error answer, never a 200."""

from __future__ import annotations

from typing import Any

from helpdesk_testing.plugin import app_client, bearer, refused_commits
from notifier.app import create_app
from notifier.sink import MailSink

from .test_api import ALL_ON, _problem


async def test_a_failed_commit_is_a_problem_not_a_200(make_settings: Any, sink: MailSink, jwt_keys: Any) -> None:
    me = bearer(jwt_keys.token(role="user"))
    url = "/api/notifications/preferences"
    app = create_app(make_settings(smtp_port=sink.port))
    async with app_client(app, raise_app_exceptions=False) as client:
        with refused_commits(app):
            response = await client.put(url, json={**ALL_ON, "welcome": False}, headers=me)
        assert 500 <= response.status_code < 600
        _problem(response, response.status_code)
        assert (await client.get(url, headers=me)).json() == ALL_ON
