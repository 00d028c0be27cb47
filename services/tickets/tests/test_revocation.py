"""A demoted or disabled user's token is refused on the tickets service's own port too."""

from __future__ import annotations

from datetime import UTC, datetime

from helpdesk_testing.plugin import wait_for
from shared.bus import Bus
from shared.events import Envelope, UserUpdated


async def test_a_token_issued_before_a_user_update_is_refused(kit, vhost):
    staff, bystander = kit.person("moderator"), kit.person("moderator")
    assert (await kit.client.get("/api/tickets", headers=staff.headers)).status_code == 200
    bus = Bus(vhost, service="tickets-tests")
    await bus.start()
    assert await bus.wait_connected(10)
    try:
        demoted = UserUpdated(
            user_id=staff.id,
            email=staff.email,
            name=staff.name,
            role="user",
            tokens_valid_after=datetime.now(UTC),
            changed=["role"],
            revision=3,
        )
        await bus.publish(Envelope.wrap(demoted))

        async def refused() -> bool:
            r = await kit.client.get("/api/tickets", headers=staff.headers)
            return r.status_code == 401

        await wait_for(refused, timeout=10, message="the demoted moderator's token refused")
        r = await kit.client.post("/api/tickets", json={"title": "t", "description": "d"}, headers=staff.headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        # nobody else's token is touched
        assert (await kit.client.get("/api/tickets", headers=bystander.headers)).status_code == 200
    finally:
        await bus.close()
