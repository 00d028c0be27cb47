"""The tickets outbox relay alone (`uvicorn tickets.relay:create_app --factory --port 8106`).

With OUTBOX_RELAY=off the tickets API only writes its outbox (in the request's transaction);
this process publishes it, woken by the NOTIFY the create statement sends (or polling behind
a transaction pooler). Restarting it never interrupts the API; several may run at once (rows
are claimed with SKIP LOCKED). HTTP answers /healthz, /readyz and /metrics only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.runtime import Runtime
from shared.web import create_service_app

from tickets import models
from tickets.settings import TicketsSettings


def create_app(settings: TicketsSettings | None = None) -> FastAPI:
    """The relay process: the tickets outbox published to the broker, and health."""
    settings = settings or TicketsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings=settings, database_url=settings.database_url, outbox=models.outbox, relay=True)
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    return create_service_app(title="tickets relay", settings=settings, lifespan=lifespan)
