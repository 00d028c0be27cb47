"""A ticket waiting for a free slot is in the queue of the moderators it waits for: they see it
(read only, with whom it waits for), nobody else but admins does, and it leaves their queue as soon
as it is assigned, closed or triaged again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from shared.events import Envelope, UserRegistered


async def row(kit, ticket_id):
    return await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", uuid.UUID(str(ticket_id)))


def ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {t["id"] for t in response.json()["items"]}


async def known(kit, person) -> None:
    """Tell the service of `person` as auth would (an admin may then assign to them)."""
    event = UserRegistered(
        user_id=person.id, email=person.email, name=person.name, role=person.role, created_at=datetime.now(UTC)
    )
    await kit.deliver(Envelope.wrap(event))


@pytest.fixture
async def world(kit):
    """`waiting` waits for net and net2 (both full); `assigned` is net's own; `elsewhere` waits for bill."""
    a, admin = kit.person("user"), kit.person("admin")
    net, net2, bill = kit.person("moderator"), kit.person("moderator"), kit.person("moderator")
    waiting = await kit.create(a, title="VPN drops", description="the tunnel falls every hour")
    assigned = await kit.create(a, title="VPN slow", description="the tunnel crawls")
    elsewhere = await kit.create(a, title="Invoice twice", description="charged two times")
    await kit.triage(waiting["id"], None, waiting_for=(net, net2))
    await kit.triage(assigned["id"], net)
    await kit.triage(elsewhere["id"], None, waiting_for=(bill,))
    return {
        "a": a,
        "admin": admin,
        "net": net,
        "net2": net2,
        "bill": bill,
        "waiting": waiting["id"],
        "assigned": assigned["id"],
        "elsewhere": elsewhere["id"],
    }


async def test_the_waiting_result_stores_whom_it_waits_for(kit, world):
    t = await row(kit, world["waiting"])
    assert (t["triage_state"], t["assigned_to_id"]) == ("waiting", None)
    assert t["waiting_for"] == [world["net"].id, world["net2"].id]
    # the ticket.updated it emits says it waits; whom it waits for stays in this service
    [event] = await kit.events("ticket.updated", world["waiting"])
    assert event["data"]["changes"]["triage_state"] == {"old": "pending", "new": "waiting"}
    assert (await row(kit, world["assigned"]))["waiting_for"] is None


async def test_a_moderator_sees_what_waits_for_them_and_not_what_waits_for_others(kit, world):
    net, net2, bill, a, admin = world["net"], world["net2"], world["bill"], world["a"], world["admin"]
    r = await kit.client.get("/api/tickets", headers=net.headers)
    assert ids(r) == {world["waiting"], world["assigned"]}
    r = await kit.client.get("/api/tickets?waiting_for=me", headers=net.headers)
    assert ids(r) == {world["waiting"]}
    [item] = r.json()["items"]
    assert item["triage"]["state"] == "waiting"
    assert item["triage"]["waiting_for"] == [str(net.id), str(net2.id)]
    assert item["helpful_notes"] == "Unplug it first"  # what its assignee will read
    assert ids(await kit.client.get("/api/tickets?waiting_for=me", headers=net2.headers)) == {world["waiting"]}
    assert ids(await kit.client.get("/api/tickets", headers=bill.headers)) == {world["elsewhere"]}
    # a filter narrows what one may see, never widens it
    r = await kit.client.get(f"/api/tickets?waiting_for={bill.id}", headers=net.headers)
    assert ids(r) == set()
    r = await kit.client.get(f"/api/tickets?waiting_for={bill.id}", headers=admin.headers)
    assert ids(r) == {world["elsewhere"]}
    assert ids(await kit.client.get("/api/tickets?waiting_for=me", headers=a.headers)) == set()
    assert ids(await kit.client.get("/api/tickets?waiting_for=me", headers=admin.headers)) == set()

    r = await kit.client.get(f"/api/tickets/{world['waiting']}", headers=net2.headers)
    assert r.status_code == 200
    assert r.json()["triage"]["waiting_for"] == [str(net.id), str(net2.id)]
    assert (await kit.client.get(f"/api/tickets/{world['waiting']}", headers=bill.headers)).status_code == 404
    assert (await kit.client.get(f"/api/tickets/{world['elsewhere']}", headers=net.headers)).status_code == 404
    # the requester sees that it waits, not which moderators it waits for
    r = await kit.client.get(f"/api/tickets/{world['waiting']}", headers=a.headers)
    assert r.json()["triage"] == {"state": "waiting"}
    assert str(net.id) not in r.text
    r = await kit.client.get(f"/api/tickets/{world['waiting']}", headers=admin.headers)
    assert r.json()["triage"]["waiting_for"] == [str(net.id), str(net2.id)]
    r = await kit.client.get(f"/api/tickets/{world['assigned']}", headers=admin.headers)
    assert r.json()["triage"]["waiting_for"] == []


async def test_a_moderator_it_waits_for_reads_it_but_does_not_work_it(kit, world):
    net, tid = world["net"], world["waiting"]
    before = await row(kit, tid)
    for body in ({"status": "closed"}, {"status": "in_progress"}, {"priority": "low"}):
        r = await kit.client.patch(f"/api/tickets/{tid}", json=body, headers=net.headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
    for body in ({"body": "on it"}, {"body": "note", "internal": True}):
        r = await kit.client.post(f"/api/tickets/{tid}/comments", json=body, headers=net.headers)
        assert r.status_code == 403, r.text
    r = await kit.client.post(f"/api/tickets/{tid}/comments", json={"body": "any news?"}, headers=world["a"].headers)
    assert r.status_code == 201
    r = await kit.client.get(f"/api/tickets/{tid}/comments", headers=net.headers)
    assert [c["body"] for c in r.json()["items"]] == ["any news?"]
    assert (await kit.client.post(f"/api/tickets/{tid}/retriage", headers=net.headers)).status_code == 403
    after = await row(kit, tid)
    assert (after["version"], after["status"], after["priority"]) == (before["version"], "open", "high")


async def test_the_assignment_that_frees_a_slot_takes_it_out_of_the_others_queues(kit, world):
    net, net2 = world["net"], world["net2"]
    await kit.triage(world["waiting"], net2)  # the same attempt: net2 freed a slot
    t = await row(kit, world["waiting"])
    assert (t["triage_state"], t["assigned_to_id"], t["waiting_for"]) == ("done", net2.id, None)
    assert ids(await kit.client.get("/api/tickets?waiting_for=me", headers=net.headers)) == set()
    assert ids(await kit.client.get("/api/tickets", headers=net.headers)) == {world["assigned"]}
    assert (await kit.client.get(f"/api/tickets/{world['waiting']}", headers=net.headers)).status_code == 404
    r = await kit.client.get(f"/api/tickets/{world['waiting']}", headers=net2.headers)
    assert r.json()["triage"]["waiting_for"] == []


async def test_assigning_or_closing_by_hand_ends_the_wait(kit, world):
    net, net2, admin, a = world["net"], world["net2"], world["admin"], world["a"]
    await known(kit, net2)
    r = await kit.client.patch(
        f"/api/tickets/{world['waiting']}", json={"assigned_to": str(net2.id)}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["triage"]["state"], r.json()["triage"]["waiting_for"]) == ("done", [])
    t = await row(kit, world["waiting"])
    assert (t["triage_state"], t["waiting_for"]) == ("done", None)
    event = (await kit.events("ticket.updated", world["waiting"]))[-1]
    assert event["data"]["changes"]["triage_state"] == {"old": "waiting", "new": "done"}
    # the slot triage frees meanwhile for net comes too late: the person's choice stands
    await kit.triage(world["waiting"], net)
    assert (await row(kit, world["waiting"]))["assigned_to_id"] == net2.id
    assert ids(await kit.client.get("/api/tickets?waiting_for=me", headers=net.headers)) == set()

    r = await kit.client.patch(f"/api/tickets/{world['elsewhere']}", json={"status": "closed"}, headers=a.headers)
    assert r.status_code == 200, r.text
    t = await row(kit, world["elsewhere"])
    assert (t["triage_state"], t["waiting_for"]) == ("done", None)
    assert ids(await kit.client.get("/api/tickets", headers=world["bill"].headers)) == set()


async def test_retriage_and_failure_end_the_wait(kit, world):
    admin, net, bill = world["admin"], world["net"], world["bill"]
    r = await kit.client.post(f"/api/tickets/{world['waiting']}/retriage", headers=admin.headers)
    assert r.status_code == 202
    t = await row(kit, world["waiting"])
    assert (t["triage_state"], t["waiting_for"]) == ("pending", None)
    assert (await kit.client.get(f"/api/tickets/{world['waiting']}", headers=net.headers)).status_code == 404
    await kit.triage_failed(world["elsewhere"], admin)
    t = await row(kit, world["elsewhere"])
    assert (t["triage_state"], t["waiting_for"]) == ("failed", None)
    assert ids(await kit.client.get("/api/tickets", headers=bill.headers)) == set()


async def test_a_waiting_result_from_an_older_triage_shows_to_admins_only(kit):
    """A publisher that predates `waiting_for` sends none: the ticket waits, visible as before."""
    a, admin, net = kit.person(), kit.person("admin"), kit.person("moderator")
    ticket = await kit.create(a)
    data = {
        "ticket_id": ticket["id"],
        "attempt": 1,
        "category": "Hardware",
        "priority": "high",
        "confidence": 0.5,
        "provider": "local",
        "model": "nb-1",
        "assignee": None,
        "assignment_reason": "waiting for a free slot",
    }
    await kit.deliver(Envelope(type="ticket.triaged", data=data))
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["waiting_for"]) == ("waiting", None)
    assert ids(await kit.client.get("/api/tickets", headers=net.headers)) == set()
    assert ids(await kit.client.get("/api/tickets", headers=admin.headers)) == {ticket["id"]}
    r = await kit.client.get(f"/api/tickets/{ticket['id']}", headers=admin.headers)
    assert r.json()["triage"]["waiting_for"] == []


@pytest.mark.parametrize("query", ["waiting_for=someone", "waiting_for=", "waiting_for=ME", "waiting_for=%00"])
async def test_a_malformed_waiting_for_is_a_422_problem(kit, query):
    net = kit.person("moderator")
    r = await kit.client.get(f"/api/tickets?{query}", headers=net.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_the_waiting_queries_use_the_index(kit, world):
    """With sequential scans off, "waiting for me" and a moderator's whole view stay on indexes."""
    me = world["net"].id
    for where in (
        f"triage_state = 'waiting' AND waiting_for @> ARRAY['{me}']::uuid[]",
        f"(created_by_id = '{me}' OR assigned_to_id = '{me}'"
        f" OR (triage_state = 'waiting' AND waiting_for @> ARRAY['{me}']::uuid[]))",
    ):
        async with kit.db.transaction():
            await kit.db.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(
                r[0]
                for r in await kit.db.fetch(
                    f"EXPLAIN SELECT * FROM tickets.tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 51"  # noqa: S608
                )
            )
        # waiting_for's GIN, or the partial index of unfinished triage (0009_stats) that also holds
        # every waiting ticket: either way an index, never the whole table
        assert "ix_tickets_waiting_for" in plan or "ix_tickets_triage_unfinished" in plan, plan
        assert "Seq Scan" not in plan, plan
