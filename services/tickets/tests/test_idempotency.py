"""Idempotency-Key on POST /api/tickets: a retried request finds its ticket instead of making a second."""

from __future__ import annotations

import asyncio
import uuid

import pytest


def _post(kit, who, key: str | bytes | None, title: str = "VPN drops hourly", description: str = "Since Monday"):
    headers = {**who.headers, **({"Idempotency-Key": key} if key is not None else {})}
    return kit.client.post("/api/tickets", json={"title": title, "description": description}, headers=headers)


async def test_a_retry_with_the_same_key_returns_the_first_ticket_and_writes_nothing(kit):
    alice = kit.person()
    key = str(uuid.uuid4())
    first = await _post(kit, alice, key)
    again = await _post(kit, alice, key)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets WHERE created_by_id = $1", alice.id) == 1
    assert len(await kit.events("ticket.created")) == 1


async def test_without_a_key_every_post_is_a_new_ticket(kit):
    alice = kit.person()
    ids = {(await _post(kit, alice, None)).json()["id"] for _ in range(2)}
    assert len(ids) == 2


async def test_the_same_key_for_a_different_ticket_is_refused(kit):
    alice = kit.person()
    key = "form-42"
    assert (await _post(kit, alice, key)).status_code == 201
    reused = await _post(kit, alice, key, title="Another problem entirely")
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in reused.json()["detail"]
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets WHERE created_by_id = $1", alice.id) == 1


async def test_keys_belong_to_their_creator(kit):
    """Bob using Alice's key gets his own ticket, never hers."""
    alice, bob = kit.person(), kit.person()
    key = "shared-key"
    mine = (await _post(kit, alice, key)).json()
    theirs = await _post(kit, bob, key)
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]
    assert theirs.json()["created_by"]["id"] == str(bob.id)


async def test_concurrent_retries_make_one_ticket(kit):
    alice = kit.person()
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(_post(kit, alice, key) for _ in range(6)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(1 for a in answers if a.headers.get("idempotent-replayed") == "true") == 5
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets WHERE created_by_id = $1", alice.id) == 1
    assert len(await kit.events("ticket.created")) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve".encode()])
async def test_malformed_keys_are_refused_and_change_nothing(kit, key):
    alice = kit.person()
    response = await _post(kit, alice, key)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 0
