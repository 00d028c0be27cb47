"""Handlers of the events triage consumes, and of its own dead-letter queue.

Analysis (maybe a slow Gemini call) runs outside any transaction; the effect (assignment,
decision, outbox event) and the processed-message mark then commit together, so a redelivered
event changes nothing a second time and no connection is held while a model thinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.bus import PermanentError
from shared.db import transaction
from shared.events import (
    Envelope,
    TicketCreated,
    TicketRetriageRequested,
    TicketSnapshot,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.inbox import claim
from shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triage import repository, service
from triage.analyzer.base import Analyzer, TicketText
from triage.learning import ModelManager
from triage.models import processed_messages
from triage.service import Overflow

log = get_logger(__name__)

CONSUMER = "triage"
DLQ_CONSUMER = "triage.dlq"
CATEGORY_TTL = 2.0


class Consumers:
    """The bus handlers of one triage process."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        analyzer: Callable[[], Analyzer],
        models: ModelManager,
        capacity: int,
        overflow: Overflow = "wait",
        on_commit: Callable[[], None] = lambda: None,
        precheck: bool = True,
    ) -> None:
        self._sessions = sessions
        self._analyzer = analyzer
        self._models = models
        self._capacity = capacity
        self._overflow: Overflow = overflow
        self._on_commit = on_commit
        # Look for a redelivery before analysing: worth a query when analysis is a paid call,
        # not when it is a few milliseconds of local CPU (the claim below decides anyway).
        self._precheck = precheck
        self._cats: tuple[list[str], float] | None = None

    async def _categories(self) -> list[str]:
        # Read at most every CATEGORY_TTL seconds: a PUT in any process shows up that soon.
        now = time.monotonic()
        if self._cats is None or now - self._cats[1] > CATEGORY_TTL:
            async with self._sessions() as session:
                names = [c.name for c in await repository.list_categories(session)]
            self._cats = (names, now)
        return self._cats[0]

    async def handle(self, envelope: Envelope) -> None:
        """Dispatch one event of the `triage` queue."""
        payload = envelope.payload()
        if isinstance(payload, TicketCreated):
            await self._triage(envelope, payload.ticket, version=payload.version,
                               attempt=payload.ticket.triage_attempt)
        elif isinstance(payload, TicketRetriageRequested):
            await self._triage(envelope, payload.ticket, version=payload.version,
                               attempt=payload.attempt)
        elif isinstance(payload, TicketUpdated):
            # No processed mark: the copy's version already makes a repeated update change
            # nothing (and a correction is an upsert), so the mark would only cost a write.
            categories = await self._categories()
            async with transaction(self._sessions) as session:
                await service.apply_ticket_update(
                    session=session, event=payload, categories=categories,
                    capacity=self._capacity,
                )
            self._on_commit()  # a freed slot may have handed a waiting ticket out
        elif isinstance(payload, UserRegistered | UserUpdated):
            async with transaction(self._sessions) as session:
                if not await claim(session, processed_messages, consumer=CONSUMER,
                                   envelope=envelope):
                    return
                await service.apply_user(session=session, event=payload)

    async def _triage(
        self, envelope: Envelope, snapshot: TicketSnapshot, *, version: int, attempt: int
    ) -> None:
        if self._precheck:
            async with self._sessions() as session:
                if await repository.was_processed(
                    session, consumer=CONSUMER, message_id=envelope.id
                ):
                    log.info("event_duplicate_skipped")
                    return
        categories = await self._categories()
        if not categories:
            raise RuntimeError("no categories configured")
        model_version = self._models.version
        analysis = await self._analyzer().analyze(
            TicketText(title=snapshot.title, description=snapshot.description),
            categories=categories,
        )
        async with transaction(self._sessions) as session:
            if not await claim(session, processed_messages, consumer=CONSUMER, envelope=envelope):
                return
            outcome = await service.triage_ticket(
                session=session,
                snapshot=snapshot,
                version=version,
                attempt=attempt,
                analysis=analysis,
                model_version=model_version,
                categories=categories,
                capacity=self._capacity,
                overflow=self._overflow,
            )
        self._on_commit()
        log.info(
            "ticket_triaged",
            ticket_id=str(snapshot.id),
            attempt=attempt,
            provider=analysis.provider,
            assignee=str(outcome.assignee_id) if outcome.assignee_id else None,
            skipped=outcome.skipped,
        )

    async def handle_dead_letter(self, envelope: Envelope) -> None:
        """A message that exhausted its deliveries: a ticket is failed to an admin, never lost."""
        try:
            payload = envelope.payload()
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
        if isinstance(payload, TicketCreated):
            snapshot, version, attempt = payload.ticket, payload.version, payload.ticket.triage_attempt
        elif isinstance(payload, TicketRetriageRequested):
            snapshot, version, attempt = payload.ticket, payload.version, payload.attempt
        else:
            log.error("dead_letter_dropped", event_type=envelope.type, event_id=str(envelope.id))
            return
        async with transaction(self._sessions) as session:
            if not await claim(session, processed_messages, consumer=DLQ_CONSUMER,
                               envelope=envelope):
                return
            await service.fail_to_admin(
                session=session,
                snapshot=snapshot,
                version=version,
                attempt=attempt,
                why="triage could not process this ticket after repeated attempts",
            )
        self._on_commit()
