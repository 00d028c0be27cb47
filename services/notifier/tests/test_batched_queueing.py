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


async def test_a_batch_reads_whom_it_may_mail_once_and_suppresses_as_one_event_alone_would(
    engine: AsyncEngine, db: Any
) -> None:
    """Opted out, deactivated, unverified: the same people are left out as one event at a time
    would leave out, with their settings read once for the batch; a user event in the batch is
    seen by the mails after it."""
    handle = build_handler(sessions=create_sessionmaker(engine), mail=MAIL, batch_size=32)
    names = ("Olga Optedout", "Dan Deactivated", "Uma Unverified", "Nora Normal", "Mia Moved")
    registrations = [ev.registered(role="moderator", name=n, verified=n != "Uma Unverified") for n in names]
    for registration in registrations:
        await handle(registration)
    olga, dan, uma, nora, mia = (r.data for r in registrations)
    await db.execute("INSERT INTO notifier.preferences (user_id, ticket_assigned) VALUES ($1, false)", olga["user_id"])
    await handle(ev.updated_user(registrations[1], revision=2, active=False))
    refs = {
        d["user_id"]: UserRef(id=d["user_id"], name=d["name"], email=d["email"]) for d in (olga, dan, uma, nora, mia)
    }
    first = [ev.assigned(ev.snapshot(assignee=ref)) for ref in refs.values()]
    # Mia is deactivated in the middle of the batch: her later assignment mails nobody
    moved = ev.updated_user(registrations[4], revision=2, active=False)
    later = ev.assigned(ev.snapshot(assignee=refs[mia["user_id"]]))
    # a version older than one seen before mails nobody either (Nora's ticket, version 5 seen)
    seen = ev.assigned(ev.snapshot(assignee=refs[nora["user_id"]]), version=5)
    await handle(seen)
    stale = ev.assigned(seen.payload().ticket, version=3)  # type: ignore[attr-defined]
    reads: list[str] = []
    versions: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM notifier.users" in statement:
            reads.append(statement)
        if statement.startswith("INSERT INTO notifier.ticket_versions"):
            versions.append(statement)

    await asyncio.gather(*(handle(e) for e in [*first, stale, moved, later]))

    rows = await db.fetch("SELECT event_id, recipient_email FROM notifier.deliveries WHERE kind = 'ticket_assigned'")
    mailed = {(r["event_id"], r["recipient_email"]) for r in rows}
    assert mailed == {(seen.id, nora["email"]), (first[3].id, nora["email"]), (first[4].id, mia["email"])}
    # the batch's ticket versions in one statement, its people once and Mia again after her
    # user event: not one of each per event
    assert len(versions) == 1, versions
    assert len(reads) == 2, reads
