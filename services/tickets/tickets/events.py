"""Handlers of the events the tickets service consumes (queue "tickets")."""

from __future__ import annotations

from shared.events import (
    Assignee,
    Envelope,
    EventData,
    TicketTriaged,
    TicketTriageFailed,
    UserRegistered,
    UserUpdated,
)
from shared.inbox import EventHandler, idempotent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import incident_proposals, repository, triage_results
from tickets.models import processed_messages
from tickets.settings import TicketsSettings

QUEUE = "tickets"


def handlers(settings: TicketsSettings) -> dict[str, EventHandler]:
    """Event type -> what applying it does (inside the consumer's transaction)."""

    async def on_triaged(session: AsyncSession, payload: EventData, _: Envelope) -> None:
        assert isinstance(payload, TicketTriaged)
        if await triage_results.apply_triaged(session=session, settings=settings, event=payload):
            await incident_proposals.apply_proposal(session=session, settings=settings, event=payload)

    async def on_triage_failed(session: AsyncSession, payload: EventData, _: Envelope) -> None:
        assert isinstance(payload, TicketTriageFailed)
        await triage_results.apply_triage_failed(session=session, event=payload)

    async def on_user(session: AsyncSession, payload: EventData, _: Envelope) -> None:
        # who can be assigned: an admin's PATCH assigned_to needs a known name, email and role
        assert isinstance(payload, UserRegistered | UserUpdated)
        await repository.apply_user_event(
            session,
            person_id=payload.user_id,
            name=payload.name,
            email=payload.email,
            role=payload.role,
            revision=payload.revision if isinstance(payload, UserUpdated) else 0,
        )

    return {
        TicketTriaged.event_type: on_triaged,
        TicketTriageFailed.event_type: on_triage_failed,
        UserRegistered.event_type: on_user,
        UserUpdated.event_type: on_user,
    }


async def prepare(session: AsyncSession, payloads: list[EventData]) -> None:
    """A batch's triage results: their tickets locked and the people they name read, in two statements."""
    results = [p for p in payloads if isinstance(p, TicketTriaged | TicketTriageFailed)]
    if not results:
        return
    await repository.lock_tickets(session, (r.ticket_id for r in results))
    named: list[Assignee | None] = [
        r.assignee if isinstance(r, TicketTriaged) else r.fallback_assignee for r in results
    ]
    await repository.read_people(session, (person.id for person in named if person is not None))


class Consumer:
    """The consumer of the "tickets" queue: each event applied once, with its effect."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], settings: TicketsSettings) -> None:
        self._apply = idempotent(
            sessions=sessions,
            table=processed_messages,
            consumer=QUEUE,
            handlers=handlers(settings),
            batch_size=settings.batch_size,
            prepare=prepare,
        )

    async def handle(self, envelope: Envelope) -> None:
        """Apply one event of the queue (the bus handler)."""
        await self._apply(envelope)
