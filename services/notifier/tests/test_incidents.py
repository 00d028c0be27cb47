"""incident.updated: the owner is mailed once per incident, admins once when it grows large."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from notifier.events import Consumer
from notifier.service import MailSettings
from shared.db import create_engine, create_sessionmaker
from shared.events import Actor, Envelope, IncidentChange, IncidentSnapshot, IncidentUpdated, UserRef

from . import events_factory as ev

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SYSTEM = Actor(kind="system", name="triage")


@pytest.fixture
async def handle(clean_db: Any) -> AsyncIterator[Any]:
    engine = create_engine(clean_db.url("notifier"), pool_size=2)
    yield Consumer(
        sessions=create_sessionmaker(engine),
        mail=MailSettings(web_base_url="https://help.example.test", incident_admin_size=10),
    ).handle
    await engine.dispose()


def incident_event(
    incident_id: uuid.UUID,
    owner: UserRef | None,
    *,
    change: IncidentChange,
    size: int,
    previous: int,
    version: int,
    new_owner: bool = False,
) -> Envelope:
    return Envelope.wrap(
        IncidentUpdated(
            incident=IncidentSnapshot(
                id=incident_id,
                title="VPN not connecting",
                status="open",
                priority="high",
                owner=owner,
                size=size,
                created_at=NOW,
                updated_at=NOW,
            ),
            change=change,
            version=version,
            previous_size=previous,
            actor=SYSTEM,
            new_owner=new_owner,
        )
    )


async def deliveries(db: Any, kind: str) -> list[str]:
    rows = await db.fetch("SELECT recipient_email FROM notifier.deliveries WHERE kind = $1 ORDER BY 1", kind)
    return [r["recipient_email"] for r in rows]


async def test_owner_once_per_incident_and_admins_once_past_the_size(handle: Any, db: Any) -> None:
    owner_reg, admin_reg = ev.registered(role="moderator", name="Mo"), ev.registered(role="admin", name="Ada")
    for registration in (owner_reg, admin_reg):
        await handle(registration)
    owner = UserRef(id=owner_reg.data["user_id"], name="Mo", email=owner_reg.data["email"])
    incident_id = uuid.uuid4()

    opened = incident_event(incident_id, owner, change="opened", size=2, previous=0, version=1, new_owner=True)
    await handle(opened)
    await handle(opened)  # redelivered
    for version, size in enumerate(range(3, 13), start=2):  # joins up to 12 tickets
        await handle(incident_event(incident_id, owner, change="joined", size=size, previous=size - 1, version=version))
    # shrinking below and growing past the size again mails nobody a second time
    await handle(incident_event(incident_id, owner, change="detached", size=9, previous=12, version=20))
    await handle(incident_event(incident_id, owner, change="joined", size=10, previous=9, version=21))

    assert await deliveries(db, "incident_assigned") == [owner.email]
    assert await deliveries(db, "incident_large") == [admin_reg.data["email"]]
    subject = await db.fetchval("SELECT subject FROM notifier.deliveries WHERE kind = 'incident_assigned'")
    assert subject == "[Helpdesk] Incident assigned to you: VPN not connecting (2 tickets)"


async def test_no_owner_mail_without_a_new_owner(handle: Any, db: Any) -> None:
    owner_reg = ev.registered(role="moderator", name="Mo")
    await handle(owner_reg)
    owner = UserRef(id=owner_reg.data["user_id"], name="Mo", email=owner_reg.data["email"])
    await handle(incident_event(uuid.uuid4(), owner, change="joined", size=3, previous=2, version=2))
    assert await deliveries(db, "incident_assigned") == []
