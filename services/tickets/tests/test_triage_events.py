"""ticket.triaged / ticket.triage_failed: applied once, in attempt order; retriage raises the bar."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from helpdesk_testing.plugin import wait_for
from shared.bus import Bus
from shared.events import Envelope, TicketTriaged
from sqlalchemy import event


async def row(kit, ticket_id):
    return await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", uuid.UUID(str(ticket_id)))


async def test_triaged_sets_everything_and_emits_a_system_update(kit, settings):
    a, mod = kit.person(), kit.person("moderator")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], mod, priority="high", category="Hardware")
    t = await row(kit, ticket["id"])
    assert (t["category"], t["priority"], t["triage_state"]) == ("Hardware", "high", "done")
    assert t["related_skills"] == ["printers"]
    assert (t["triage_summary"], t["helpful_notes"], t["triage_provider"], t["triage_model"]) == (
        "A printer is burning",
        "Unplug it first",
        "local",
        "nb-1",
    )
    assert t["triage_confidence"] == 0.8
    assert t["assignment_reason"] == "skills: printers"
    assert t["triaged_at"] is not None
    assert t["assigned_to_id"] == mod.id
    assert t["assigned_to_email"] == mod.email
    assert t["due_at"] == t["created_at"] + timedelta(hours=settings.sla_high_hours)
    assert (t["version"], t["triage_applied_attempt"]) == (2, 1)
    [event] = await kit.events("ticket.updated", ticket["id"])
    data = event["data"]
    assert data["actor"]["kind"] == "system"
    assert data["version"] == 2
    assert data["changes"]["assigned_to"] == {
        "old": None,
        "new": {"id": str(mod.id), "name": mod.name, "email": mod.email},
    }
    assert data["changes"]["priority"] == {"old": None, "new": "high"}
    assert data["changes"]["triage_state"] == {"old": "pending", "new": "done"}
    assert data["ticket"]["assigned_to"]["id"] == str(mod.id)
    # the assignee is now known, so an admin may assign tickets to them by id
    person = await kit.db.fetchrow("SELECT role FROM tickets.people WHERE id = $1", mod.id)
    assert person["role"] == "moderator"


async def test_duplicate_envelope_and_duplicate_attempt_change_nothing(kit):
    a, mod, mod2 = kit.person(), kit.person("moderator"), kit.person("moderator")
    ticket = await kit.create(a)
    envelope = await kit.triage(ticket["id"], mod)
    before = await row(kit, ticket["id"])
    await kit.deliver(envelope)  # the very same message, redelivered
    await kit.triage(ticket["id"], mod2, priority="low")  # another message for the same attempt
    assert dict(await row(kit, ticket["id"])) == dict(before)
    assert len(await kit.events("ticket.updated", ticket["id"])) == 1


async def test_out_of_order_attempts_keep_the_newest(kit):
    a, admin, mod1, mod2 = kit.person(), kit.person("admin"), kit.person("moderator"), kit.person("moderator")
    ticket = await kit.create(a)
    r = await kit.client.post(f"/api/tickets/{ticket['id']}/retriage", headers=admin.headers)
    assert r.status_code == 202
    [req] = await kit.events("ticket.retriage_requested", ticket["id"])
    assert req["data"]["attempt"] == 2
    await kit.triage(ticket["id"], mod2, attempt=2, priority="low", category="Network")
    after_two = await row(kit, ticket["id"])
    await kit.triage(ticket["id"], mod1, attempt=1, priority="high", category="Hardware")  # late, stale
    assert dict(await row(kit, ticket["id"])) == dict(after_two)
    assert (after_two["assigned_to_id"], after_two["priority"], after_two["triage_applied_attempt"]) == (
        mod2.id,
        "low",
        2,
    )


async def test_result_of_an_earlier_attempt_after_retriage_is_ignored(kit):
    a, admin, mod = kit.person(), kit.person("admin"), kit.person("moderator")
    ticket = await kit.create(a)
    await kit.client.post(f"/api/tickets/{ticket['id']}/retriage", headers=admin.headers)
    await kit.triage(ticket["id"], mod, attempt=1)
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"], t["triage_attempt"]) == ("pending", None, 2)


async def test_retriage_after_done_reapplies_and_bumps_version(kit):
    a, admin, mod1, mod2 = kit.person(), kit.person("admin"), kit.person("moderator"), kit.person("moderator")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], mod1)
    r = await kit.client.post(f"/api/tickets/{ticket['id']}/retriage", headers=admin.headers)
    assert r.status_code == 202, r.text
    assert r.json()["triage"]["state"] == "pending"
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["triage_attempt"], t["version"]) == ("pending", 2, 3)
    [req] = await kit.events("ticket.retriage_requested", ticket["id"])
    assert req["data"]["version"] == 3
    assert req["data"]["requested_by"] == str(admin.id)
    await kit.triage(ticket["id"], mod2, attempt=2)
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"], t["version"]) == ("done", mod2.id, 4)
    last = (await kit.events("ticket.updated", ticket["id"]))[-1]["data"]
    assert last["changes"]["assigned_to"]["new"]["id"] == str(mod2.id)


async def test_triage_failed_hands_the_ticket_to_the_admin(kit):
    a, admin = kit.person(), kit.person("admin")
    ticket = await kit.create(a)
    await kit.triage_failed(ticket["id"], admin)
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"]) == ("failed", admin.id)
    assert "analyzer unavailable" in t["assignment_reason"]
    [event] = await kit.events("ticket.updated", ticket["id"])
    assert event["data"]["changes"]["triage_state"] == {"old": "pending", "new": "failed"}
    assert event["data"]["changes"]["assigned_to"]["new"]["id"] == str(admin.id)
    # staff see the reason, the requester does not
    staff = (await kit.client.get(f"/api/tickets/{ticket['id']}", headers=admin.headers)).json()
    assert staff["triage"]["state"] == "failed"
    assert "analyzer unavailable" in staff["triage"]["assignment_reason"]
    mine = (await kit.client.get(f"/api/tickets/{ticket['id']}", headers=a.headers)).json()
    assert mine["triage"] == {"state": "failed"}
    # a late success for the same attempt does not undo the failure; a retriage can
    await kit.triage(ticket["id"], kit.person("moderator"), attempt=1)
    assert (await row(kit, ticket["id"]))["triage_state"] == "failed"
    await kit.client.post(f"/api/tickets/{ticket['id']}/retriage", headers=admin.headers)
    await kit.triage(ticket["id"], kit.person("moderator"), attempt=2)
    assert (await row(kit, ticket["id"]))["triage_state"] == "done"


async def test_triage_failed_without_an_admin_keeps_the_ticket_visible_to_staff(kit):
    a = kit.person()
    ticket = await kit.create(a)
    await kit.triage_failed(ticket["id"], None)
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"]) == ("failed", None)


async def test_result_for_an_unknown_ticket_is_dropped(kit):
    await kit.triage(uuid.uuid4(), kit.person("moderator"))
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.processed_messages") == 1
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.outbox") == 0


async def test_events_published_on_the_bus_are_consumed(kit, vhost):
    a, mod = kit.person(), kit.person("moderator")
    ticket = await kit.create(a)
    bus = Bus(vhost, service="test-triage")
    await bus.start()
    assert await bus.wait_connected(10)
    envelope = Envelope.wrap(
        TicketTriaged(
            ticket_id=uuid.UUID(ticket["id"]),
            attempt=1,
            category="Accounts",
            priority="medium",
            confidence=0.5,
            provider="gemini",
            model="g",
            assignee=mod.assignee(),
            assignment_reason="least loaded",
        )
    )
    await bus.publish(envelope)
    await bus.publish(envelope)  # a duplicate on the wire

    async def done():
        t = await row(kit, ticket["id"])
        return t["triage_state"] == "done" and t

    t = await wait_for(done, timeout=15, message="ticket.triaged consumed")
    await wait_for(
        lambda: kit.db.fetchval("SELECT count(*) = 1 FROM tickets.processed_messages"), message="processed mark"
    )
    assert t["category"] == "Accounts"
    assert t["version"] == 2
    await bus.close()
    # and the ticket.created/updated rows went out through the relay
    await wait_for(
        lambda: kit.db.fetchval("SELECT count(*) = 0 FROM tickets.outbox WHERE published_at IS NULL"),
        timeout=15,
        message="outbox drained",
    )


async def test_user_events_teach_who_can_be_assigned(kit):
    from datetime import UTC, datetime

    from shared.events import UserRegistered, UserUpdated

    a, admin = kit.person(), kit.person("admin")
    ticket = await kit.create(a)
    mod_id = uuid.uuid4()
    now = datetime.now(UTC)
    await kit.deliver(
        Envelope.wrap(UserRegistered(user_id=mod_id, email="m@x.test", name="Mo", role="user", created_at=now))
    )
    r = await kit.client.patch(f"/api/tickets/{ticket['id']}", json={"assigned_to": str(mod_id)}, headers=admin.headers)
    assert r.status_code == 422  # known now, but not staff
    promoted = UserUpdated(user_id=mod_id, email="m@x.test", name="Mo", role="moderator", revision=2)
    await kit.deliver(Envelope.wrap(promoted))
    stale = UserUpdated(user_id=mod_id, email="m@x.test", name="Mo", role="user", revision=1)
    await kit.deliver(Envelope.wrap(stale))  # late: loses to revision 2
    r = await kit.client.patch(f"/api/tickets/{ticket['id']}", json={"assigned_to": str(mod_id)}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["assigned_to"] == {"id": str(mod_id), "name": "Mo", "email": "m@x.test"}


async def test_waiting_result_then_the_assignment_of_the_same_attempt(kit, settings):
    a, mod, mod2 = kit.person(), kit.person("moderator"), kit.person("moderator")
    ticket = await kit.create(a)
    await kit.triage(ticket["id"], None, priority="high")  # every fitting moderator is full
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"], t["priority"]) == ("waiting", None, "high")
    assert t["due_at"] == t["created_at"] + timedelta(hours=settings.sla_high_hours)  # SLA runs
    await kit.triage(ticket["id"], None, priority="high")  # a repeat changes nothing
    assert dict(await row(kit, ticket["id"])) == dict(t)
    await kit.triage(ticket["id"], mod)  # a slot freed: the same attempt now names the assignee
    t = await row(kit, ticket["id"])
    assert (t["triage_state"], t["assigned_to_id"]) == ("done", mod.id)
    await kit.triage(ticket["id"], mod2)  # once assigned, a further result of that attempt is stale
    assert (await row(kit, ticket["id"]))["assigned_to_id"] == mod.id
    states = [e["data"]["changes"].get("triage_state") for e in await kit.events("ticket.updated", ticket["id"])]
    assert states == [{"old": "pending", "new": "waiting"}, {"old": "waiting", "new": "done"}]


async def test_a_triage_result_cannot_rewrite_whom_mail_goes_to(kit):
    """People change only through auth's user.* events: a forged ticket.triaged names the
    moderator with the attacker's address, yet the ticket and the people copy keep the real one."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from shared.events import UserRegistered

    a, mod = kit.person(), kit.person("moderator")
    await kit.deliver(
        Envelope.wrap(
            UserRegistered(
                user_id=mod.id, email=mod.email, name=mod.name, role="moderator", created_at=datetime.now(UTC)
            )
        )
    )
    ticket = await kit.create(a)
    impostor = replace(mod, email="attacker@evil.test", name="Mallory")
    await kit.triage(ticket["id"], impostor)
    t = await row(kit, ticket["id"])
    assert (t["assigned_to_id"], t["assigned_to_email"], t["assigned_to_name"]) == (mod.id, mod.email, mod.name)
    person = await kit.db.fetchrow("SELECT email, name FROM tickets.people WHERE id = $1", mod.id)
    assert (person["email"], person["name"]) == (mod.email, mod.name)
    [event] = await kit.events("ticket.updated", ticket["id"])
    assert event["data"]["ticket"]["assigned_to"]["email"] == mod.email
    # the fallback of a failed triage is looked up the same way
    other = await kit.create(a)
    admin = kit.person("admin")
    await kit.deliver(
        Envelope.wrap(
            UserRegistered(
                user_id=admin.id, email=admin.email, name=admin.name, role="admin", created_at=datetime.now(UTC)
            )
        )
    )
    await kit.triage_failed(other["id"], replace(admin, email="attacker@evil.test"))
    assert (await row(kit, other["id"]))["assigned_to_email"] == admin.email


async def test_results_in_flight_together_are_applied_in_one_batch_each_once(kit):
    """The consumer applies the events it has in flight together in one transaction (TICKETS_BATCH_SIZE):
    each is applied once, in order, as it would be alone; a user's new address in the same batch
    is the one the later assignment uses."""
    from datetime import UTC, datetime

    from shared.events import UserRegistered, UserUpdated

    a, mod = kit.person(), kit.person("moderator")
    registered = UserRegistered(
        user_id=mod.id, email=mod.email, name=mod.name, role="moderator", created_at=datetime.now(UTC)
    )
    await kit.deliver(Envelope.wrap(registered))
    tickets = [await kit.create(a, title=f"Printer {i} on fire") for i in range(12)]

    first = [kit.triaged(t["id"], mod) for t in tickets[:6]]
    moved = Envelope.wrap(
        UserUpdated(user_id=mod.id, email="new-" + mod.email, name=mod.name, role="moderator", revision=2)
    )
    later = [kit.triaged(t["id"], mod) for t in tickets[6:]]
    handle = kit.handler()  # one consumer: what it has in flight is batched
    in_flight = [*first, first[0], moved, *later]  # first[0] twice: a redelivery inside the batch
    # the statements of the batch's own transactions (the app's relay shares the engine): from
    # the processed-message claim on a connection to that connection's commit
    statements: list[str] = []
    batch_connections: set[int] = set()

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        key = id(conn.connection.dbapi_connection)
        if statement.startswith("INSERT INTO tickets.processed_messages"):
            batch_connections.add(key)
        if key in batch_connections:
            statements.append(statement.split(None, 1)[0])

    def committed(conn) -> None:  # noqa: ANN001
        batch_connections.discard(id(conn.connection.dbapi_connection))

    engine = kit.app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", committed)
    try:
        await asyncio.gather(*(handle(e) for e in in_flight))
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", committed)
    # the batch's tickets locked and the moderator read once, each ticket's UPDATE and history
    # row written together at the commit: a ticket's own statement is its outbox row
    # (the user event in the middle writes what is pending before it: two UPDATEs, two INSERTs)
    assert len(statements) <= len(tickets) + 10, statements

    for i, ticket in enumerate(tickets):
        t = await row(kit, ticket["id"])
        assert (t["triage_state"], t["assigned_to_id"], t["version"]) == ("done", mod.id, 2)
        assert t["assigned_to_email"] == (mod.email if i < 6 else "new-" + mod.email)
        assert len(await kit.events("ticket.updated", ticket["id"])) == 1
