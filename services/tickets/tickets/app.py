"""The tickets service: HTTP routes, the outbox relay and the "tickets" queue consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.runtime import Runtime
from shared.web import create_service_app

from shared import deadletters
from tickets import api, events, incidents_api, models, people, rollups
from tickets.settings import TicketsSettings


def create_app(settings: TicketsSettings | None = None) -> FastAPI:
    """Build the tickets app; resources are made in the lifespan, never at import."""
    settings = settings or TicketsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(
            settings=settings,
            database_url=settings.database_url,
            outbox=models.outbox,
            relay=settings.outbox_relay == "inprocess",
        )
        people.remember_written(runtime.sessions, runtime.statement_sessions)
        runtime.consume(events.QUEUE, events.Consumer(sessions=runtime.sessions, settings=settings).handle)
        runtime.record_dead_letters(events.QUEUE, models.dead_letters)
        runtime.run_in_background(
            "stats-fold", lambda: rollups.fold_forever(runtime.sessions, settings.stats_fold_seconds)
        )
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = create_service_app(title="tickets", settings=settings, lifespan=lifespan)
    app.include_router(api.inbound_router)
    app.include_router(api.router)
    app.include_router(api.stats_router)
    app.include_router(incidents_api.router)
    app.include_router(incidents_api.ticket_router)
    app.include_router(deadletters.router(service="tickets", table=models.dead_letters, queue=events.QUEUE))
    return app
