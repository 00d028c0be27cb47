"""Consumers of the notifier queue: each event's mails are queued in the transaction that marks
it processed (shared.inbox), so a redelivered event queues nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy.exc
from shared.bus import Handler
from shared.events import (
    Envelope,
    EventData,
    IncidentUpdated,
    TicketCommented,
    TicketTriageFailed,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.inbox import idempotent
from shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from notifier import incidents, repository, service
from notifier.models import processed_messages
from notifier.service import MailSettings

CONSUMER = "notifier"
QUEUE = "notifier"
log = get_logger(__name__)


def database_unreachable(exc: BaseException) -> bool:
    """Errors that mean "the database is not there right now", not "this event is bad"."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        (
            OSError,
            TimeoutError,
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.InterfaceError,
            sqlalchemy.exc.TimeoutError,
        ),
    )


class Consumer:
    """The consumer of the notifier queue (the bus handler is `handle`); `on_committed` wakes the
    delivery loop. See `build_handler` for the wait while the database is unreachable."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        mail: MailSettings,
        on_committed: Callable[[], None] = lambda: None,
        database_patience: float = 60.0,
        batch_size: int = 1,
    ) -> None:
        self._handle = build_handler(
            sessions=sessions,
            mail=mail,
            on_committed=on_committed,
            database_patience=database_patience,
            batch_size=batch_size,
        )

    async def handle(self, envelope: Envelope) -> None:
        """Queue the mails of one event of the queue."""
        await self._handle(envelope)


def build_handler(
    *,
    sessions: async_sessionmaker[AsyncSession],
    mail: MailSettings,
    on_committed: Callable[[], None] = lambda: None,
    database_patience: float = 60.0,
    batch_size: int = 1,
) -> Handler:
    """The bus handler for the notifier queue; `on_committed` wakes the delivery loop.

    While the database is unreachable the handler keeps the message and retries (tenacity,
    up to `database_patience` seconds) instead of failing it: the bus dead-letters a message
    after a few quick failures, which would lose mails during a short database restart.
    """

    async def ticket_updated(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, TicketUpdated)
        await service.notify_ticket_updated(session=session, event=event, envelope=envelope, mail=mail)

    async def ticket_commented(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, TicketCommented)
        await service.notify_ticket_commented(session=session, event=event, envelope=envelope, mail=mail)

    async def triage_failed(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, TicketTriageFailed)
        await service.notify_triage_failed(session=session, event=event, envelope=envelope, mail=mail)

    async def user_registered(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, UserRegistered)
        await service.record_user_registered(session=session, event=event, envelope=envelope, mail=mail)

    async def user_updated(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, UserUpdated)
        await service.record_user_updated(session=session, event=event, envelope=envelope, mail=mail)

    async def incident_updated(session: AsyncSession, event: EventData, envelope: Envelope) -> None:
        assert isinstance(event, IncidentUpdated)
        await incidents.notify_incident_updated(session=session, event=event, envelope=envelope, mail=mail)

    async def prepare(session: AsyncSession, events: list[EventData]) -> None:
        # the ticket versions a batch's updates advance, and the people its ticket events may
        # mail: one statement each, not one per event
        people: set[uuid.UUID] = set()
        for data in events:
            if isinstance(data, TicketUpdated | TicketCommented):
                people.add(data.ticket.created_by.id)
                if data.ticket.assigned_to is not None:
                    people.add(data.ticket.assigned_to.id)
        updates = [(data.ticket.id, data.version) for data in events if isinstance(data, TicketUpdated)]
        await repository.advance_ticket_versions(session, updates)
        await repository.read_recipients(session, people)

    apply = idempotent(
        sessions=sessions,
        table=processed_messages,
        consumer=CONSUMER,
        handlers={
            TicketUpdated.event_type: ticket_updated,
            TicketTriageFailed.event_type: triage_failed,
            TicketCommented.event_type: ticket_commented,
            UserRegistered.event_type: user_registered,
            UserUpdated.event_type: user_updated,
            IncidentUpdated.event_type: incident_updated,
        },
        batch_size=batch_size,
        prepare=prepare,
    )

    def _log_retry(state: object) -> None:
        outcome = getattr(state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        log.warning("database_unreachable_retrying", error=str(error)[:200])

    async def handle(envelope: Envelope) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(database_unreachable),
            stop=stop_after_delay(database_patience),
            wait=wait_exponential_jitter(initial=0.2, max=5.0),
            before_sleep=_log_retry,
            reraise=True,
        ):
            with attempt:
                await apply(envelope)
        on_committed()

    return handle
