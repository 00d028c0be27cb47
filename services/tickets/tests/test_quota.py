"""The per-user creation quota: 429 with Retry-After, per user, nothing written."""

from __future__ import annotations

import pytest
from shared.problems import ProblemError
from tickets import service
from tickets.schemas import TicketCreate


async def test_quota_refuses_with_retry_after(kit, settings):
    limited = settings.model_copy(update={"create_quota": 2, "create_quota_window_seconds": 600})
    a, b = kit.person(), kit.person()
    from shared.jwt import TokenVerifier

    verifier = TokenVerifier(public_key_pem=settings.jwt_public_key, issuer="helpdesk-auth", audience="helpdesk")
    pa, pb = verifier.verify(a.token), verifier.verify(b.token)
    body = TicketCreate(title="abc", description="d")
    sessions = kit.app.state.runtime.sessions
    for _ in range(2):
        async with sessions() as session, session.begin():
            _, replayed = await service.create_ticket(session=session, settings=limited, ticket_in=body, creator=pa)
            assert not replayed
    with pytest.raises(ProblemError) as refused:
        async with sessions() as session, session.begin():
            await service.create_ticket(session=session, settings=limited, ticket_in=body, creator=pa)
    assert refused.value.status == 429
    assert 590 <= int(refused.value.headers["Retry-After"]) <= 600
    async with sessions() as session, session.begin():
        await service.create_ticket(session=session, settings=limited, ticket_in=body, creator=pb)
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets WHERE created_by_id = $1", a.id) == 2
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.outbox") == 3


async def test_quota_through_http(kit, settings, db, jwt_keys):
    from helpdesk_testing.plugin import app_client
    from tickets.app import create_app

    app = create_app(settings.model_copy(update={"create_quota": 1}))
    a = kit.person()
    async with app_client(app) as client:
        r1 = await client.post("/api/tickets", json={"title": "abc", "description": "d"}, headers=a.headers)
        r2 = await client.post("/api/tickets", json={"title": "abc", "description": "d"}, headers=a.headers)
    assert r1.status_code == 201
    assert r2.status_code == 429
    assert r2.headers["content-type"] == "application/problem+json"
    assert int(r2.headers["retry-after"]) > 0


async def test_a_refused_creation_writes_nothing_not_even_the_person(kit, settings):
    from helpdesk_testing.plugin import app_client
    from tickets.app import create_app

    a = kit.person()
    # a ticket of theirs from before (another process wrote it), so the next one is over quota
    await kit.db.execute(
        "INSERT INTO tickets.tickets (id, title, description, created_by_id, created_by_name, created_by_email,"
        " created_at, updated_at) VALUES (gen_random_uuid(), 't', 'd', $1, 'A', 'a@example.test', now(), now())",
        a.id,
    )
    async with app_client(create_app(settings.model_copy(update={"create_quota": 1}))) as client:
        r = await client.post("/api/tickets", json={"title": "abc", "description": "d"}, headers=a.headers)
    assert r.status_code == 429, r.text
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.people WHERE id = $1", a.id) == 0
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.outbox") == 0


async def test_comment_quota_per_user_through_http(kit, settings):
    from helpdesk_testing.plugin import app_client
    from tickets.app import create_app

    app = create_app(settings.model_copy(update={"comment_quota": 3, "comment_quota_window_seconds": 600}))
    a, admin = kit.person(), kit.person("admin")
    async with app_client(app) as client:
        created = await client.post("/api/tickets", json={"title": "abc", "description": "d"}, headers=a.headers)
        tid = created.json()["id"]
        url = f"/api/tickets/{tid}/comments"
        statuses = [
            (await client.post(url, json={"body": "x" * 10_000}, headers=a.headers)).status_code for _ in range(5)
        ]
        refused = await client.post(url, json={"body": "one more"}, headers=a.headers)
        # the quota is the author's: an admin on the same ticket still writes
        other = await client.post(url, json={"body": "admin here"}, headers=admin.headers)
    assert statuses == [201, 201, 201, 429, 429]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    assert other.status_code == 201
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments WHERE author_id = $1", a.id) == 3
