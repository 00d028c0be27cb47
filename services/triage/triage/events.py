"""Handlers of the events triage consumes, and of its own dead-letter queue.

Analysis (maybe a slow Gemini call) runs outside any transaction; the effect (assignment,
decision, outbox event) and the processed-message mark then commit together, so a redelivered
event changes nothing a second time and no connection is held while a model thinks.

With the local model, ticket events in flight together are triaged in batches
(`shared.batching`, up to TRIAGE_BATCH_SIZE): one vectorised prediction, then one transaction
that claims every message and applies each decision in turn (the same per-ticket rules, the
same atomic capacity slot per moderator), after which each message is acked on its own. A batch
that fails is retried one message at a time, so a poison message still fails alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from shared.batching import MicroBatcher
from shared.bus import PermanentError
from shared.db import transaction
from shared.events import (
    Envelope,
    IncidentUpdated,
    TicketCreated,
    TicketRetriageRequested,
    TicketSnapshot,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.inbox import claim, claim_many
from shared.logging import bind_contextvars, clear_contextvars, get_logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from triage import copies, directory, incidents, repository, service
from triage.analyzer.base import Analysis, Analyzer, TicketText
from triage.learning import ModelManager
from triage.models import processed_messages
from triage.service import Overflow

log = get_logger(__name__)

CONSUMER = "triage"
DLQ_CONSUMER = "triage.dlq"
CATEGORY_TTL = 2.0


@dataclass(frozen=True)
class _Request:
    """A ticket event to triage: the envelope and what it asks for."""

    envelope: Envelope
    snapshot: TicketSnapshot
    version: int
    attempt: int


def _bind(envelope: Envelope) -> None:
    """The logging context of one message of a batch (as the bus sets it for one message)."""
    clear_contextvars()
    bind_contextvars(
        service="triage", event_type=envelope.type, event_id=str(envelope.id), correlation_id=envelope.correlation_id
    )
    tracing.bind_traceparent(envelope.traceparent)


class Consumer:
    """The consumer of the triage queue and its dead letters, in one triage process."""

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
        batch_size: int = 1,
        update_batch_size: int = 1,
        incident_rules: incidents.Rules | None = None,
    ) -> None:
        self._sessions = sessions
        self._incident_rules = incident_rules
        self._analyzer = analyzer
        self._models = models
        self._capacity = capacity
        self._overflow: Overflow = overflow
        self._on_commit = on_commit
        # Look for a redelivery before analysing: worth a query when analysis is a paid call,
        # not when it is a few milliseconds of local CPU (the claim below decides anyway).
        self._precheck = precheck
        self._cats: tuple[list[str], float] | None = None
        self._batcher: MicroBatcher[_Request] | None = None
        if batch_size > 1:
            self._batcher = MicroBatcher(
                run_batch=self._triage_batch,
                # a batch of one: the same path (its writes deferred to the commit, one event insert)
                run_one=self._triage_alone,
                max_batch=batch_size,
                name="triage",
            )
        # ticket.updated events in flight together: one transaction (whatever the analyzer)
        self._updates: MicroBatcher[tuple[Envelope, TicketUpdated]] | None = None
        if update_batch_size > 1:
            self._updates = MicroBatcher(
                run_batch=self._apply_updates,
                run_one=self._apply_update,
                max_batch=update_batch_size,
                name="triage-updates",
            )

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
            await self._submit(_Request(envelope, payload.ticket, payload.version, payload.ticket.triage_attempt))
        elif isinstance(payload, TicketRetriageRequested):
            await self._submit(_Request(envelope, payload.ticket, payload.version, payload.attempt))
        elif isinstance(payload, TicketUpdated):
            if self._updates is not None:
                await self._updates.submit((envelope, payload))
            else:
                await self._apply_update((envelope, payload))
        elif isinstance(payload, UserRegistered | UserUpdated):
            async with transaction(self._sessions) as session:
                if not await claim(session, processed_messages, consumer=CONSUMER, envelope=envelope):
                    return
                await directory.apply_user(session=session, event=payload)
        elif isinstance(payload, IncidentUpdated):
            # no processed mark: the incident's version makes a repeat change nothing
            async with transaction(self._sessions) as session:
                await incidents.apply_incident_event(session, payload)

    async def _apply_update(self, update: tuple[Envelope, TicketUpdated]) -> None:
        await self._apply_updates([update])

    async def _apply_updates(self, updates: Sequence[tuple[Envelope, TicketUpdated]]) -> None:
        """Follow ticket updates in one transaction, in arrival order.

        No processed mark: the copy's version already makes a repeated update change nothing
        (and a correction is an upsert), so the mark would only cost a write.
        """
        categories = await self._categories()
        async with transaction(self._sessions) as session:
            await copies.lock_copies(session, [update.ticket for _, update in updates])
            for envelope, update in updates:
                if len(updates) > 1:
                    _bind(envelope)  # alone, it runs in its message's context already
                await service.apply_ticket_update(
                    session=session, event=update, categories=categories, capacity=self._capacity
                )
        self._on_commit()  # a freed slot may have handed a waiting ticket out

    async def _submit(self, request: _Request) -> None:
        if self._batcher is not None:
            await self._batcher.submit(request)
        else:
            await self._triage_request(request)

    async def _triage_alone(self, request: _Request) -> None:
        await self._triage_batch([request])

    async def _triage_request(self, request: _Request) -> None:
        await self._triage(request.envelope, request.snapshot, version=request.version, attempt=request.attempt)

    async def _analyze_many(self, requests: Sequence[_Request], categories: list[str]) -> list[Analysis]:
        analyzer = self._analyzer()
        texts = [TicketText(title=r.snapshot.title, description=r.snapshot.description) for r in requests]
        many = getattr(analyzer, "analyze_many", None)
        if many is not None:
            analyses: list[Analysis] = await many(texts, categories=categories)
            return analyses
        return list(await asyncio.gather(*(analyzer.analyze(t, categories=categories) for t in texts)))

    async def _triage_batch(self, requests: Sequence[_Request]) -> None:
        """Triage several tickets: one prediction, one transaction (all or none commit)."""
        categories = await self._categories()
        if not categories:
            raise RuntimeError("no categories configured")
        model_version = self._models.version
        analyses = await self._analyze_many(requests, categories)
        outcomes: list[tuple[_Request, Analysis, service.Outcome]] = []
        async with transaction(self._sessions) as session:
            fresh = await claim_many(
                session, processed_messages, consumer=CONSUMER, envelopes=[r.envelope for r in requests]
            )
            todo = []
            for request, analysis in zip(requests, analyses, strict=True):
                if request.envelope.id in fresh:  # else a redelivery already applied (or a twin)
                    fresh.discard(request.envelope.id)
                    todo.append((request, analysis))
            batch = service.Batch([r.snapshot for r, _ in todo])
            await copies.lock_copies(session, batch.snapshots)
            tickets = [r.snapshot.id for r, _ in todo]
            # Decisions and ticket changes are written together at the commit (one statement
            # each) unless two events of the batch are about one ticket: then each sees the last.
            deferred = session.no_autoflush if len(set(tickets)) == len(tickets) else nullcontext()
            with deferred:
                for request, analysis in todo:
                    _bind(request.envelope)  # its events carry its correlation id
                    outcome = await service.triage_ticket(
                        session=session,
                        snapshot=request.snapshot,
                        version=request.version,
                        attempt=request.attempt,
                        analysis=analysis,
                        model_version=model_version,
                        categories=categories,
                        capacity=self._capacity,
                        overflow=self._overflow,
                        batch=batch,
                        incident_rules=self._incident_rules,
                    )
                    outcomes.append((request, analysis, outcome))
            await batch.finish(session)
        self._on_commit()
        for request, analysis, outcome in outcomes:
            _bind(request.envelope)
            log.info(
                "ticket_triaged",
                ticket_id=str(request.snapshot.id),
                attempt=request.attempt,
                provider=analysis.provider,
                assignee=str(outcome.assignee_id) if outcome.assignee_id else None,
                skipped=outcome.skipped,
                batch=len(requests),
            )

    async def _triage(self, envelope: Envelope, snapshot: TicketSnapshot, *, version: int, attempt: int) -> None:
        if self._precheck:
            async with self._sessions() as session:
                if await repository.was_processed(session, consumer=CONSUMER, message_id=envelope.id):
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
                incident_rules=self._incident_rules,
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
            if not await claim(session, processed_messages, consumer=DLQ_CONSUMER, envelope=envelope):
                return
            await service.fail_to_admin(
                session=session,
                snapshot=snapshot,
                version=version,
                attempt=attempt,
                why="triage could not process this ticket after repeated attempts",
            )
        self._on_commit()
