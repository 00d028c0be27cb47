"""Consumers of the notifier queue: each event's mails are queued in the transaction that marks
it processed (shared.inbox), so a redelivered event queues nothing twice."""

from __future__ import annotations

from collections.abc import Callable

from shared.bus import Handler
from shared.events import (
    Envelope,
    EventData,
    TicketTriageFailed,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.inbox import idempotent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifier import service
from notifier.models import processed_messages
from notifier.service import MailSettings

CONSUMER = "notifier"
QUEUE = "notifier"


def build_handler(
    *,
    sessions: async_sessionmaker[AsyncSession],
    mail: MailSettings,
    on_committed: Callable[[], None] = lambda: None,
) -> Handler:
    """The bus handler for the notifier queue; `on_committed` wakes the delivery loop."""

    async def ticket_updated(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, TicketUpdated)
        await service.notify_ticket_updated(session=session, event=event, envelope=envelope, mail=mail)

    async def triage_failed(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, TicketTriageFailed)
        await service.notify_triage_failed(session=session, event=event, envelope=envelope, mail=mail)

    async def user_registered(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        await service.record_user_registered(session=session, event=event, envelope=envelope, mail=mail)

    async def user_updated(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, UserUpdated)
        await service.record_user_updated(session=session, event=event)

    apply = idempotent(
        sessions=sessions,
        table=processed_messages,
        consumer=CONSUMER,
        handlers={
            TicketUpdated.event_type: ticket_updated,
            TicketTriageFailed.event_type: triage_failed,
            UserRegistered.event_type: user_registered,
            UserUpdated.event_type: user_updated,
        },
    )

    async def handle(envelope: Envelope) -> None:
        await apply(envelope)
        on_committed()

    return handle
