"""GET/PUT /api/notifications/preferences and the admin failure list, through HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from helpdesk_testing.plugin import bearer, wait_for
from notifier.sink import MailSink

from . import events_factory as ev
from .mailbox import of_kind, wait_for_mails

ALL_ON = {
    "ticket_assigned": True,
    "ticket_resolved": True,
    "triage_failed": True,
    "welcome": True,
    "ticket_commented": True,
}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


async def test_preferences_default_on_and_can_be_changed(
    make_settings: Any, run_app: Any, sink: MailSink, jwt_keys: Any
) -> None:
    me = bearer(jwt_keys.token(role="user"))
    other = bearer(jwt_keys.token(role="user"))
    async with run_app(make_settings(smtp_port=sink.port)) as client:
        response = await client.get("/api/notifications/preferences", headers=me)
        assert response.status_code == 200
        assert response.json() == ALL_ON
        changed = {**ALL_ON, "welcome": False, "ticket_resolved": False}
        response = await client.put("/api/notifications/preferences", json=changed, headers=me)
        assert response.status_code == 200
        assert response.json() == changed
        assert (await client.get("/api/notifications/preferences", headers=me)).json() == changed
        # someone else's preferences are untouched
        assert (await client.get("/api/notifications/preferences", headers=other)).json() == ALL_ON


async def test_preferences_refuse_bad_bodies_and_anonymous_callers(
    make_settings: Any, run_app: Any, sink: MailSink, jwt_keys: Any
) -> None:
    me = bearer(jwt_keys.token(role="moderator"))
    url = "/api/notifications/preferences"
    async with run_app(make_settings(smtp_port=sink.port)) as client:
        missing = {k: v for k, v in ALL_ON.items() if k != "welcome"}
        body = _problem(await client.put(url, json=missing, headers=me), 422)
        assert any(e["loc"][-1] == "welcome" for e in body["errors"])
        body = _problem(await client.put(url, json={**ALL_ON, "digest": True}, headers=me), 422)
        assert any(e["loc"][-1] == "digest" for e in body["errors"])
        _problem(await client.put(url, json={**ALL_ON, "welcome": "no"}, headers=me), 422)
        _problem(await client.put(url, json={**ALL_ON, "welcome": 0}, headers=me), 422)
        _problem(await client.put(url, content=b"{not json", headers=me), 422)
        _problem(await client.get(url), 401)
        _problem(await client.get(url, headers=bearer("not-a-token")), 401)
        # nothing was stored by the refused requests
        assert (await client.get(url, headers=me)).json() == ALL_ON


async def test_a_user_who_opted_out_gets_no_mail_of_that_kind(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, jwt_keys: Any, db: Any
) -> None:
    moderator = ev.user_ref("Mo Derator")
    token = bearer(jwt_keys.token(role="moderator", user_id=moderator.id))
    async with run_app(make_settings(smtp_port=sink.port)) as client:
        response = await client.put(
            "/api/notifications/preferences",
            json={**ALL_ON, "ticket_assigned": False},
            headers=token,
        )
        assert response.status_code == 200
        silenced = ev.assigned(ev.snapshot(assignee=moderator))
        requester = ev.user_ref("Rita Requester")
        resolved = ev.status_changed(
            ev.snapshot(status="resolved", requester=requester, assignee=moderator),
            old="in_progress",
        )
        await publisher.publish(silenced)
        await publisher.publish(resolved)
        mails = await wait_for_mails(sink.directory, 1, settle=1.0)
    assert [m["To"].addresses[0].addr_spec for m in mails] == [requester.email]
    assert await db.fetchval("SELECT count(*) FROM notifier.processed_messages WHERE message_id = $1", silenced.id) == 1


async def test_permanent_failures_are_listed_for_admins(
    make_settings: Any,
    run_app: Any,
    publisher: Any,
    smtp_servers: Any,
    scripted: Any,
    jwt_keys: Any,
    db: Any,
) -> None:
    handler = scripted(["550 5.1.1 mailbox unavailable"])
    server = await smtp_servers(handler)
    admin = bearer(jwt_keys.token(role="admin"))
    user = bearer(jwt_keys.token(role="user"))
    ticket = ev.snapshot(assignee=ev.user_ref("Gone Moderator"))
    async with run_app(make_settings(smtp_port=server.port)) as client:
        await publisher.publish(ev.assigned(ticket))

        async def failed() -> Any:
            return await db.fetchval("SELECT count(*) FROM notifier.deliveries WHERE status = 'failed'")

        await wait_for(failed, timeout=10, message="the delivery to be marked failed")
        assert handler.data_calls == 1  # 5xx: not retried

        response = await client.get("/api/notifications/failures", headers=admin)
        assert response.status_code == 200
        page = response.json()
        (item,) = page["items"]
        assert page["next_cursor"] is None
        assert item["recipient_email"] == ticket.assigned_to.email  # type: ignore[union-attr]
        assert item["kind"] == "ticket_assigned"
        assert item["error_code"] == 550
        assert "mailbox unavailable" in item["error"]
        assert item["ticket_id"] == str(ticket.id)
        assert item["attempts"] == 1

        _problem(await client.get("/api/notifications/failures", headers=user), 403)
        _problem(await client.get("/api/notifications/failures", headers=admin, params={"limit": 0}), 422)
        _problem(
            await client.get("/api/notifications/failures", headers=admin, params={"cursor": "x"}),
            422,
        )

        # the admin fixed the mailbox: the mail goes out on retry
        response = await client.post(f"/api/notifications/failures/{item['id']}/retry", headers=admin)
        assert response.status_code == 202
        assert response.json()["status"] == "pending"
        client.app.state.deliveries.wake()

        async def sent() -> Any:
            return await db.fetchval("SELECT count(*) FROM notifier.deliveries WHERE status = 'sent'")

        await wait_for(sent, timeout=10, message="the retried delivery to be sent")
        assert len(handler.accepted) == 1
        _problem(
            await client.post(f"/api/notifications/failures/{item['id']}/retry", headers=admin),
            404,
        )
        _problem(
            await client.post(f"/api/notifications/failures/{uuid.uuid4()}/retry", headers=user),
            403,
        )
        _problem(await client.post("/api/notifications/failures/not-a-uuid/retry", headers=admin), 422)


async def test_failures_are_paginated(
    make_settings: Any,
    run_app: Any,
    publisher: Any,
    smtp_servers: Any,
    scripted: Any,
    jwt_keys: Any,
    db: Any,
) -> None:
    server = await smtp_servers(scripted(["550 5.1.1 no"] * 5))
    admin = bearer(jwt_keys.token(role="admin"))
    async with run_app(make_settings(smtp_port=server.port)) as client:
        for _ in range(5):
            await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo X"))))

        async def failed() -> Any:
            n = await db.fetchval("SELECT count(*) FROM notifier.deliveries WHERE status='failed'")
            return n == 5

        await wait_for(failed, timeout=10, message="five failures")
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/notifications/failures", headers=admin, params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5


async def test_welcome_can_be_turned_off_before_it_is_sent(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, jwt_keys: Any
) -> None:
    """Preferences apply to every kind: an opted-out user gets no welcome on re-registration."""
    user_id = uuid.uuid4()
    token = bearer(jwt_keys.token(role="user", user_id=user_id))
    async with run_app(make_settings(smtp_port=sink.port)) as client:
        await client.put("/api/notifications/preferences", json={**ALL_ON, "welcome": False}, headers=token)
        await publisher.publish(ev.registered(user_id=user_id, name="Quiet User"))
        loud = ev.registered(name="Loud User")
        await publisher.publish(loud)
        mails = await wait_for_mails(sink.directory, 1, settle=1.0)
    # (the welcome mail carries no display name: the address is what tells them apart)
    assert [m["To"].addresses[0].addr_spec for m in of_kind(mails, "welcome")] == [loud.data["email"]]
