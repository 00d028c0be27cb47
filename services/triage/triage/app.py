"""The triage service: admin routes, the consumers of its queue and dead-letter queue, the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from shared.db import transaction
from shared.logging import get_logger
from shared.runtime import Runtime
from shared.web import create_service_app

from shared import deadletters
from triage import api, incidents, models, repository
from triage.analyzer.base import Analyzer
from triage.analyzer.local import DEFAULT_CATEGORIES
from triage.events import Consumer
from triage.learning import ModelManager
from triage.settings import TriageSettings

if TYPE_CHECKING:
    from triage.gemini import GeminiAnalyzer
    from triage.openai_compat import OpenAICompatAnalyzer

log = get_logger(__name__)

# POST /api/triage/examples takes up to 1,000 labelled tickets in one body (admins only).
BODY_LIMIT = 16 * 1024 * 1024


def _remote_analyzers(
    settings: TriageSettings, local: Analyzer
) -> tuple[GeminiAnalyzer | None, OpenAICompatAnalyzer | None]:
    """The configured remote models (Gemini, an OpenAI-compatible server), each falling back to `local`."""
    gemini: GeminiAnalyzer | None = None
    if settings.use_gemini:
        # Imported only when used: the SDK costs ~60 MB of memory in every worker.
        from triage.gemini import GeminiAnalyzer

        key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else ""
        gemini = GeminiAnalyzer(
            api_key=key or "unset",
            model=settings.gemini_model,
            base_url=settings.gemini_base_url,
            timeout_s=settings.gemini_timeout_s,
            attempts=settings.gemini_attempts,
            fallback=local,
        )
    remote: OpenAICompatAnalyzer | None = None
    if settings.use_openai and settings.openai_base_url:
        from triage.openai_compat import OpenAICompatAnalyzer

        secret = settings.openai_api_key
        remote = OpenAICompatAnalyzer(
            base_url=settings.openai_base_url,
            api_key=secret.get_secret_value() if secret else None,
            model=settings.openai_model,
            timeout_s=settings.openai_timeout_s,
            attempts=settings.openai_attempts,
            fallback=local,
        )
    return gemini, remote


def create_app(settings: TriageSettings | None = None, *, analyzer: Analyzer | None = None) -> FastAPI:
    """Build the app; `analyzer` replaces the configured one (tests of failure paths)."""
    settings = settings or TriageSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings=settings, database_url=settings.database_url, outbox=models.outbox)
        manager = ModelManager(
            engine=runtime.engine,
            sessions=runtime.sessions,
            max_examples=settings.max_training_examples,
        )
        async with transaction(runtime.sessions) as session:
            await repository.seed_categories(session, DEFAULT_CATEGORIES)
        await manager.ensure_model()
        assert manager.analyzer is not None
        local = manager.analyzer
        gemini, remote = _remote_analyzers(settings, local)
        chosen: Analyzer = analyzer or gemini or remote or local
        consumer = Consumer(
            sessions=runtime.sessions,
            analyzer=lambda: chosen,
            models=manager,
            capacity=settings.moderator_capacity,
            overflow=settings.overflow,
            on_commit=runtime.wake_relay,
            precheck=gemini is not None or remote is not None,
            # a remote model answers one ticket per call: batching would only hold tickets back
            batch_size=settings.batch_size if gemini is None and remote is None else 1,
            update_batch_size=settings.batch_size,
            incident_rules=(
                incidents.Rules(threshold=settings.incident_threshold, window_s=settings.incident_window_s)
                if settings.incidents
                else None
            ),
        )
        runtime.consume("triage", consumer.handle)
        # a dead ticket event fails the ticket to an admin (never unowned), then is recorded
        runtime.record_dead_letters("triage", models.dead_letters, then=consumer.handle_dead_letter)
        runtime.run_in_background("triage-model-poll", lambda: manager.poll_forever(settings.model_poll_s))
        if settings.retrain_interval_s > 0:
            runtime.run_in_background(
                "triage-retrain",
                lambda: manager.retrain_when_examples_change(settings.retrain_interval_s),
            )
        await runtime.start()
        app.state.runtime = runtime
        app.state.models = manager
        log.info(
            "triage_started",
            provider="gemini" if gemini else "openai" if remote else "local",
            model_version=manager.version,
        )
        try:
            yield
        finally:
            await runtime.stop()
            await manager.stop()
            if gemini is not None:
                await gemini.aclose()
            if remote is not None:
                await remote.aclose()

    app = create_service_app(title="triage", settings=settings, lifespan=lifespan, body_limit=BODY_LIMIT)
    app.include_router(api.router)
    app.include_router(deadletters.router(service="triage", table=models.dead_letters, queue="triage"))
    return app
