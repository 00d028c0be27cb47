"""A poison message: dead-lettered after the delivery limit, the ticket failed to an admin,
and a retriage afterwards works."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from helpdesk_testing.plugin import JwtKeys, TestDatabase, app_client, bearer
from shared.bus import DELIVERY_LIMIT
from shared.events import TicketRetriageRequested
from triage.analyzer.base import Analysis, TicketText
from triage.app import create_app
from triage.settings import TriageSettings

from .helpers import Probe, created, user_registered
from .test_flow import wait_staff


class BrokenThenFixed:
    """The analyzer of a process with a bug for some tickets, until the bug is fixed.

    Not a fake of anything on the internet: it stands for a defect in our own code path, which
    is what a poison message is.
    """

    def __init__(self, healthy: Analysis) -> None:
        self.broken = True
        self.calls = 0
        self._healthy = healthy

    async def analyze(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        if self.broken and "POISON" in ticket.title:
            self.calls += 1
            raise ValueError("analyzer crashed on this ticket")
        if ticket.title == "Warm-up":
            return replace(self._healthy, related_skills=(), category="General Inquiry")
        return self._healthy


async def test_poison_ticket_fails_to_admin_then_retriage_works(
    make_settings: Callable[..., TriageSettings],
    probe: Probe,
    triage_db: TestDatabase,
    jwt_keys: JwtKeys,
) -> None:
    healthy = Analysis(
        category="Technical Support",
        priority="medium",
        related_skills=("VPN",),
        summary="VPN issue",
        helpful_notes="",
        confidence=0.7,
        provider="local",
        model="local-test",
    )
    analyzer = BrokenThenFixed(healthy)
    app = create_app(make_settings(), analyzer=analyzer)
    async with app_client(app) as client:
        busy = user_registered(role="admin", name="Busy")
        idle = user_registered(role="admin", name="Idle")
        vpn = user_registered(role="moderator", name="Vic", skills=["VPN"])
        for e in (busy, idle, vpn):
            await probe.publish(e)
        await wait_staff(triage_db, vpn.user_id)
        # A ticket nobody's skills match goes to an admin, who is then the busier one.
        warmup = created("Warm-up", "nothing")
        await probe.publish(warmup)
        (first,) = await probe.wait_about(warmup.ticket.id)
        busier = uuid.UUID(first.data["assignee"]["id"])
        assert busier in (busy.user_id, idle.user_id)
        least_loaded = idle.user_id if busier == busy.user_id else busy.user_id

        poison = created("POISON ticket", "this one crashes the analyzer")
        await probe.publish(poison)
        (failed,) = await probe.wait_about(poison.ticket.id, timeout=40)
        assert analyzer.calls >= DELIVERY_LIMIT
        assert failed.type == "ticket.triage_failed"
        fallback = failed.data["fallback_assignee"]
        assert fallback is not None
        assert fallback["id"] == str(least_loaded)
        assert "repeated attempts" in failed.data["reason"]
        assert failed.data["title"] == "POISON ticket"
        fallback_id = uuid.UUID(fallback["id"])
        await wait_staff(triage_db, fallback_id, open_count=1)

        r = await client.get(
            "/api/triage/decisions",
            headers=bearer(jwt_keys.token(role="admin")),
            params={"ticket_id": str(poison.ticket.id)},
        )
        (decision,) = r.json()["items"]
        assert decision["outcome"] == "failed"
        assert decision["assignee_id"] == fallback["id"]

        # The bug is fixed; an admin asks for a retriage: it now goes to the VPN moderator and
        # the admin's slot is given back.
        analyzer.broken = False
        await probe.publish(TicketRetriageRequested(ticket=poison.ticket, version=2, attempt=2))
        _, retriaged = await probe.wait_about(poison.ticket.id, count=2)
        assert retriaged.type == "ticket.triaged"
        assert retriaged.data["attempt"] == 2
        assert retriaged.data["assignee"]["id"] == str(vpn.user_id)
        await wait_staff(triage_db, fallback_id, open_count=0)
        await wait_staff(triage_db, busier, open_count=1)
        await wait_staff(triage_db, vpn.user_id, open_count=1)


async def test_a_poison_message_is_recorded_visible_and_replayed_once(
    make_settings: Callable[..., TriageSettings],
    probe: Probe,
    triage_db: TestDatabase,
    jwt_keys: JwtKeys,
) -> None:
    import asyncpg
    from helpdesk_testing.plugin import wait_for

    healthy = Analysis(
        category="Technical Support",
        priority="medium",
        related_skills=(),
        summary="s",
        helpful_notes="",
        confidence=0.7,
        provider="local",
        model="local-test",
    )
    analyzer = BrokenThenFixed(healthy)
    admin = bearer(jwt_keys.token(role="admin"))
    async with app_client(create_app(make_settings(), analyzer=analyzer)) as client:
        ada = user_registered(role="admin", name="Ada")
        await probe.publish(ada)
        await wait_staff(triage_db, ada.user_id)
        poison = created("POISON again", "crashes the analyzer")
        sent = await probe.publish(poison)
        (failed,) = await probe.wait_about(poison.ticket.id, timeout=40)
        assert failed.type == "ticket.triage_failed"  # owned by an admin meanwhile

        async def listed() -> list[dict] | None:
            r = await client.get("/api/dead-letters/triage", headers=admin)
            assert r.status_code == 200, r.text
            return r.json()["items"] or None

        (item,) = await wait_for(listed, timeout=10, message="the dead letter in the API")
        assert item["id"] == str(sent.id)
        assert item["event_type"] == "ticket.created"
        assert item["status"] == "open"
        assert item["count"] == 1
        assert "analyzer crashed on this ticket" in item["error"]
        assert "delivery limit" in item["error"]
        detail = (await client.get(f"/api/dead-letters/triage/{sent.id}", headers=admin)).json()
        assert detail["envelope"]["data"]["ticket"]["title"] == "POISON again"
        user = bearer(jwt_keys.token(role="moderator"))
        assert (await client.get("/api/dead-letters/triage", headers=user)).status_code == 403
        metrics = (await client.get("/metrics")).text
        assert 'dead_letters_open{service="triage"} 1.0' in metrics

        analyzer.broken = False
        calls_before = analyzer.calls
        r = await client.post(f"/api/dead-letters/triage/{sent.id}/replay", headers=admin)
        assert r.status_code == 200, r.text
        assert r.json() == {"replayed": 1}
        again = await client.post(f"/api/dead-letters/triage/{sent.id}/replay", headers=admin)
        assert again.status_code == 409

        async def processed() -> bool:
            conn = await asyncpg.connect(triage_db.admin_url())
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM triage.processed_messages WHERE consumer = 'triage' AND message_id = $1",
                        sent.id,
                    )
                )
            finally:
                await conn.close()

        await wait_for(processed, timeout=15, message="the replayed event applied")
        assert analyzer.calls == calls_before  # the fixed analyzer took it: no crash again
        r = await client.get("/api/dead-letters/triage", headers=admin, params={"status": "replayed"})
        (replayed,) = r.json()["items"]
        assert replayed["replays"] == 1
        assert (await client.get("/api/dead-letters/triage", headers=admin)).json() == {"items": [], "open": 0}
