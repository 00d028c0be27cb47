"""A moderator's list is merged from one query per reason they see a ticket (tickets/visible.py):
every ticket once, newest first, across pages and with a search."""

from __future__ import annotations

from typing import Any


async def pages(kit: Any, who: Any, query: str) -> list[list[str]]:
    found, cursor = [], None
    while True:
        url = f"/api/tickets?limit=2{query}" + (f"&cursor={cursor}" if cursor else "")
        r = await kit.client.get(url, headers=who.headers)
        assert r.status_code == 200, r.text
        found.append([t["id"] for t in r.json()["items"]])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return found


async def test_every_visible_ticket_once_newest_first_over_pages(kit):
    mod, other, user = kit.person("moderator"), kit.person("moderator"), kit.person()
    made = []
    for n, (creator, assignee, waiting) in enumerate(
        [
            (mod, mod, ()),  # created by and assigned to them: once, not twice
            (user, mod, ()),
            (user, None, (mod, other)),  # waiting for them
            (user, other, ()),  # someone else's
            (mod, None, (mod,)),  # created by them and waiting for them
            (user, mod, ()),
            (mod, other, ()),
        ]
    ):
        ticket = await kit.create(creator, title=f"Printer {n}", description="paper jam in tray")
        await kit.triage(ticket["id"], assignee, waiting_for=waiting)
        made.append(ticket["id"])
    # triage does not hand a moderator their own request; an admin may, later
    await kit.db.execute("UPDATE tickets.tickets SET assigned_to_id = $1 WHERE id = $2::uuid", mod.id, made[0])
    expected = [made[i] for i in (6, 5, 4, 2, 1, 0)]  # newest first, without the one of someone else
    r = await kit.client.get("/api/tickets", headers=mod.headers)
    assert [t["id"] for t in r.json()["items"]] == expected
    listed = await pages(kit, mod, "")
    assert [t for page in listed for t in page] == expected
    assert all(len(page) <= 2 for page in listed)
    searched = await pages(kit, mod, "&q=jam+tray")
    assert [t for page in searched for t in page] == expected
    assert await pages(kit, mod, "&q=nowhere") == [[]]
