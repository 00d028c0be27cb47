"""The mails of a batch of events are written with one INSERT at the commit, and only then."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from notifier import service
from notifier.events import build_handler
from notifier.mail import MailKind
from notifier.repository import Recipient
from notifier.service import MailSettings
from shared.db import create_engine, create_sessionmaker
from shared.events import UserRef
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from . import events_factory as ev
from .test_incidents import incident_event

MAIL = MailSettings(web_base_url="https://help.example.test", incident_admin_size=10)


@pytest.fixture
async def engine(clean_db: Any) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(clean_db.url("notifier"), pool_size=2)
    yield engine
    await engine.dispose()


def count_delivery_inserts(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO NOTIFIER.DELIVERIES"):
            statements.append(statement)

    return statements


async def test_a_batch_of_events_queues_its_mails_in_one_insert(engine: AsyncEngine, db: Any) -> None:
    handle = build_handler(sessions=create_sessionmaker(engine), mail=MAIL, batch_size=32)
    registrations = [ev.registered(role="moderator", name=f"Mod {i}") for i in range(5)]
    for registration in registrations:
        await handle(registration)
    moderators = [UserRef(id=r.data["user_id"], name="Mod", email=r.data["email"]) for r in registrations]
    events = [ev.assigned(ev.snapshot(assignee=moderators[i % 5])) for i in range(12)]
    inserts = count_delivery_inserts(engine)

    await asyncio.gather(*(handle(e) for e in [*events, events[0]]))  # one of them delivered twice

    assert len(inserts) == 1
    rows = await db.fetch("SELECT event_id FROM notifier.deliveries WHERE kind = 'ticket_assigned'")
    assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events)


async def test_a_check_of_earlier_mails_sees_those_queued_earlier_in_the_batch(engine: AsyncEngine, db: Any) -> None:
    handle = build_handler(sessions=create_sessionmaker(engine), mail=MAIL, batch_size=32)
    admin = ev.registered(role="admin", name="Ada")
    await handle(admin)
    incident_id = uuid.uuid4()
    # two events that each cross the alert size, in one batch: the admins are mailed once
    await asyncio.gather(
        handle(incident_event(incident_id, None, change="joined", size=10, previous=9, version=2)),
        handle(incident_event(incident_id, None, change="joined", size=11, previous=9, version=3)),
    )
    rows = await db.fetch("SELECT recipient_email FROM notifier.deliveries WHERE kind = 'incident_large'")
    assert [r["recipient_email"] for r in rows] == [admin.data["email"]]


async def test_mails_queued_in_a_transaction_that_rolls_back_are_never_written(engine: AsyncEngine, db: Any) -> None:
    sessions = create_sessionmaker(engine)
    envelope = ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo Moderator")))
    recipient = Recipient(email="mo@example.test", name="Mo")
    context = {"ticket": ev.snapshot().model_dump(mode="json"), "ticket_url": "https://x.test/t", "reassigned": False}
    async with sessions() as session:
        async with session.begin():
            queued = await service.queue_mail(
                session=session,
                envelope=envelope,
                kind=MailKind.TICKET_ASSIGNED,
                recipients=[recipient],
                context=context,
            )
            assert queued == 1
            await session.rollback()
        # the same session's next transaction writes only what it queues itself
        async with session.begin():
            await service.queue_mail(
                session=session,
                envelope=envelope,
                kind=MailKind.TICKET_ASSIGNED,
                recipients=[Recipient(email="other@example.test", name="Other")],
                context=context,
            )
    rows = await db.fetch("SELECT recipient_email FROM notifier.deliveries")
    assert [r["recipient_email"] for r in rows] == ["other@example.test"]
