"""Incidents on the tickets side: triage's proposals applied once, staff routes, what requesters see."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events import Envelope, IncidentProposal, TicketTriaged


def proposal(kit: Any, anchor: dict[str, Any], owner: Any, *, opened: bool, matched: dict[str, Any] | None = None):
    return IncidentProposal(
        incident_id=uuid.uuid5(uuid.NAMESPACE_URL, anchor["id"]),
        opened=opened,
        anchor_ticket_id=uuid.UUID(anchor["id"]),
        matched_ticket_id=uuid.UUID((matched or anchor)["id"]),
        similarity=0.9,
        reason="like ticket X: shared words vpn, connect",
        owner=owner.assignee() if owner else None,
    )


async def triage_into(
    kit: Any, ticket: dict[str, Any], prop: IncidentProposal, *, priority: str = "medium"
) -> Envelope:
    envelope = Envelope.wrap(
        TicketTriaged(
            ticket_id=uuid.UUID(ticket["id"]),
            attempt=1,
            category="Network",
            priority=priority,  # type: ignore[arg-type]
            confidence=0.7,
            provider="local",
            model="nb-1",
            assignee=None,
            assignment_reason=f"part of incident {prop.incident_id}",
            incident=prop,
        )
    )
    await kit.deliver(envelope)
    return envelope


async def burst(kit: Any, n: int = 3) -> tuple[Any, Any, list[dict[str, Any]], uuid.UUID]:
    """A moderator gets the first ticket by the normal rules; the others join its incident."""
    mod, admin = kit.person("moderator"), kit.person("admin")
    first = await kit.create(kit.person(), "VPN down", "The VPN does not connect")
    await kit.triage(first["id"], mod, priority="medium", category="Network")
    tickets = [first]
    for i in range(1, n):
        ticket = await kit.create(kit.person(), "VPN down", f"VPN will not connect ({i})")
        await triage_into(kit, ticket, proposal(kit, first, mod, opened=i == 1))
        tickets.append(ticket)
    return mod, admin, tickets, uuid.uuid5(uuid.NAMESPACE_URL, first["id"])


async def test_a_burst_becomes_one_incident_with_one_owner(kit):
    mod, admin, tickets, incident_id = await burst(kit, 3)
    incident = await kit.db.fetchrow("SELECT * FROM tickets.incidents WHERE id = $1", incident_id)
    assert (incident["size"], incident["status"], incident["owner_id"]) == (3, "open", mod.id)
    assert incident["title"] == "VPN down"
    rows = await kit.db.fetch("SELECT * FROM tickets.tickets WHERE incident_id = $1 ORDER BY created_at", incident_id)
    assert [str(r["id"]) for r in rows] == [t["id"] for t in tickets]
    # only the first is assigned (one slot); the members are done, unassigned, waiting for nobody
    assert [r["assigned_to_id"] for r in rows] == [mod.id, None, None]
    assert [r["triage_state"] for r in rows] == ["done", "done", "done"]
    assert all(r["waiting_for"] is None for r in rows)
    events = await kit.events("incident.updated")
    assert [e["data"]["change"] for e in events] == ["opened", "joined"]
    assert events[0]["data"]["new_owner"] is True
    assert [e["data"]["incident"]["size"] for e in events] == [2, 3]

    got = await kit.client.get(f"/api/incidents/{incident_id}", headers=mod.headers)
    assert got.status_code == 200, got.text
    assert [p["size"] for p in got.json()["size_history"]] == [1, 2, 3]
    members = await kit.client.get(f"/api/incidents/{incident_id}/members", headers=admin.headers)
    assert [m["id"] for m in members.json()["items"]] == [t["id"] for t in tickets]
    assert "shared words" in members.json()["items"][1]["reason"]


async def test_redelivered_proposal_changes_nothing(kit):
    mod, _, tickets, incident_id = await burst(kit, 2)
    third = await kit.create(kit.person(), "VPN down", "no VPN")
    envelope = await triage_into(kit, third, proposal(kit, tickets[0], mod, opened=False))
    before = await kit.db.fetchrow("SELECT size, version FROM tickets.incidents WHERE id = $1", incident_id)
    outbox = await kit.db.fetchval("SELECT count(*) FROM tickets.outbox")
    log = await kit.db.fetchval("SELECT count(*) FROM tickets.incident_log")

    await kit.deliver(envelope)  # the same message again
    # and a different message with the same proposal (a replay of the attempt) changes nothing either
    await triage_into(kit, third, proposal(kit, tickets[0], mod, opened=False))

    after = await kit.db.fetchrow("SELECT size, version FROM tickets.incidents WHERE id = $1", incident_id)
    assert dict(after) == dict(before) == {"size": 3, "version": before["version"]}
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.outbox") == outbox
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.incident_log") == log


async def test_priority_rises_one_step_with_size(kit, settings):
    step = settings.incident_priority_step_size
    mod, _, tickets, incident_id = await burst(kit, step - 1)
    assert await kit.db.fetchval("SELECT priority FROM tickets.incidents WHERE id = $1", incident_id) == "medium"
    for _ in range(3):
        ticket = await kit.create(kit.person(), "VPN down", "VPN broken")
        await triage_into(kit, ticket, proposal(kit, tickets[0], mod, opened=False))
    # one step at most, however large it grows
    assert await kit.db.fetchval("SELECT priority FROM tickets.incidents WHERE id = $1", incident_id) == "high"


async def test_resolve_resolves_every_member_with_one_public_comment(kit):
    mod, _, tickets, incident_id = await burst(kit, 3)
    resolved = await kit.client.post(
        f"/api/incidents/{incident_id}/resolve", json={"comment": "The VPN gateway was restarted."}, headers=mod.headers
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    for ticket in tickets:
        row = await kit.db.fetchrow("SELECT status FROM tickets.tickets WHERE id = $1", uuid.UUID(ticket["id"]))
        assert row["status"] == "resolved"
        comments = await kit.db.fetch(
            "SELECT body, internal FROM tickets.comments WHERE ticket_id = $1", uuid.UUID(ticket["id"])
        )
        assert [(c["body"], c["internal"]) for c in comments] == [("The VPN gateway was restarted.", False)]
        [update] = [e for e in await kit.events("ticket.updated", ticket["id"]) if "status" in e["data"]["changes"]]
        assert update["data"]["public_comment"] == "The VPN gateway was restarted."
    # the comment reaches requesters in the "resolved" mail only: no separate ticket.commented
    assert await kit.events("ticket.commented") == []
    again = await kit.client.post(
        f"/api/incidents/{incident_id}/resolve", json={"comment": "again"}, headers=mod.headers
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_detach_and_merge_are_recorded(kit):
    mod, admin, tickets, incident_id = await burst(kit, 3)
    detached = await kit.client.post(
        f"/api/incidents/{incident_id}/detach", json={"ticket_id": tickets[2]["id"]}, headers=mod.headers
    )
    assert detached.status_code == 200, detached.text
    assert detached.json()["size"] == 2
    row = await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", uuid.UUID(tickets[2]["id"]))
    assert (row["incident_id"], row["triage_state"], row["triage_attempt"]) == (None, "pending", 2)
    assert len(await kit.events("ticket.retriage_requested", tickets[2]["id"])) == 1

    mod2 = kit.person("moderator")
    other = await kit.create(kit.person(), "VPN slow", "VPN crawls")
    await kit.triage(other["id"], mod2, priority="low", category="Network")
    joined = await kit.create(kit.person(), "VPN slow", "VPN crawls too")
    await triage_into(kit, joined, proposal(kit, other, mod2, opened=True))
    other_id = uuid.uuid5(uuid.NAMESPACE_URL, other["id"])

    # a moderator may not merge an incident they do not own into theirs
    refused = await kit.client.post(
        f"/api/incidents/{incident_id}/merge", json={"source_id": str(other_id)}, headers=mod.headers
    )
    assert refused.status_code == 404
    merged = await kit.client.post(
        f"/api/incidents/{incident_id}/merge", json={"source_id": str(other_id)}, headers=admin.headers
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["size"] == 4
    source = await kit.db.fetchrow("SELECT * FROM tickets.incidents WHERE id = $1", other_id)
    assert (source["status"], source["merged_into"], source["size"]) == ("merged", incident_id, 0)
    moved = await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", uuid.UUID(other["id"]))
    # the source's first ticket no longer holds its own owner's slot
    assert (moved["incident_id"], moved["assigned_to_id"]) == (incident_id, None)

    log = await kit.client.get(f"/api/incidents/{incident_id}/log", headers=admin.headers)
    kinds = [e["kind"] for e in log.json()["items"]]
    assert kinds == ["opened", "joined", "joined", "detached", "merged"]
    changes = [e["data"]["change"] for e in await kit.events("incident.updated")]
    assert changes.count("detached") == 1
    assert changes.count("merged") == 2


async def test_requester_sees_a_known_problem_and_nothing_of_others(kit):
    mod, admin, tickets, incident_id = await burst(kit, 3)
    # the second ticket's requester
    row = await kit.db.fetchrow(
        "SELECT created_by_id, created_by_email, created_by_name FROM tickets.tickets WHERE id = $1",
        uuid.UUID(tickets[1]["id"]),
    )
    token = kit.jwt_keys.token(
        role="user", user_id=row["created_by_id"], email=row["created_by_email"], name=row["created_by_name"]
    )
    headers = {"Authorization": f"Bearer {token}"}

    await kit.client.post(f"/api/incidents/{incident_id}/updates", json={"body": "We are on it."}, headers=mod.headers)
    seen = await kit.client.get(f"/api/tickets/{tickets[1]['id']}/incident", headers=headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body == {
        "known_problem": True,
        "title": "Known problem",
        "status": "open",
        "updates": [{"body": "We are on it.", "created_at": body["updates"][0]["created_at"]}],
    }
    text = seen.text
    for other in (tickets[0], tickets[2]):
        assert other["id"] not in text
        assert other["created_by"]["email"] not in text
    assert "VPN" not in text  # the staff title comes from another requester's words
    # the incident routes themselves are staff only, and another's ticket stays unseen
    assert (await kit.client.get(f"/api/incidents/{incident_id}", headers=headers)).status_code == 403
    assert (await kit.client.get(f"/api/incidents/{incident_id}/members", headers=headers)).status_code == 403
    assert (await kit.client.get(f"/api/tickets/{tickets[0]['id']}/incident", headers=headers)).status_code == 404
    assert (await kit.client.get(f"/api/tickets/{tickets[0]['id']}", headers=headers)).status_code == 404


async def test_moderators_see_only_incidents_they_own(kit):
    _, admin, _, incident_id = await burst(kit, 2)
    stranger = kit.person("moderator")
    assert (await kit.client.get(f"/api/incidents/{incident_id}", headers=stranger.headers)).status_code == 404
    listed = await kit.client.get("/api/incidents", headers=stranger.headers)
    assert listed.json()["items"] == []
    listed = await kit.client.get("/api/incidents", headers=admin.headers)
    assert str(incident_id) in [i["id"] for i in listed.json()["items"]]
    bad = await kit.client.patch(f"/api/incidents/{incident_id}", json={"size": 1}, headers=admin.headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_a_late_proposal_for_a_resolved_incident_goes_back_to_triage(kit):
    mod, _, tickets, incident_id = await burst(kit, 2)
    resolved = await kit.client.post(
        f"/api/incidents/{incident_id}/resolve", json={"comment": "Fixed."}, headers=mod.headers
    )
    assert resolved.status_code == 200, resolved.text
    late = await kit.create(kit.person(), "VPN down", "VPN still down?")
    await triage_into(kit, late, proposal(kit, tickets[0], mod, opened=False))
    row = await kit.db.fetchrow("SELECT * FROM tickets.tickets WHERE id = $1", uuid.UUID(late["id"]))
    # not part of the resolved incident, and not left unworked: triaged again on its own
    assert row["incident_id"] is None
    assert (row["triage_state"], row["triage_attempt"]) == ("pending", 2)
    assert len(await kit.events("ticket.retriage_requested", late["id"])) == 1
    assert await kit.db.fetchval("SELECT size FROM tickets.incidents WHERE id = $1", incident_id) == 2
