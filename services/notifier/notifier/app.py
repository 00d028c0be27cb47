"""The notifier app: preferences/failures routes, the event consumer and the delivery loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from shared.runtime import Runtime
from shared.web import create_service_app

from notifier import models
from notifier.api import router
from notifier.delivery import DeliveryLoop
from notifier.events import QUEUE, Consumer
from notifier.service import MailSettings
from notifier.settings import NotifierSettings
from shared import deadletters


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    """Build the app; resources are made in the lifespan."""
    settings = settings or NotifierSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings=settings, database_url=settings.database_url)
        deliveries = DeliveryLoop(
            sessions=runtime.sessions,
            smtp=settings.smtp_config(),
            policy=settings.retry_policy(),
            mail_from=settings.mail_from,
            sender_domain=settings.sender_domain,
            workers=settings.mail_workers,
            batch_size=settings.batch_size,
            poll_interval=settings.mail_poll_interval,
            backoff_max=settings.mail_backoff_max,
            give_up_after=settings.mail_give_up_after,
            reply_secret=settings.mail_reply_secret.get_secret_value(),
            support_address=settings.support_address,
        )
        runtime.consume(
            QUEUE,
            Consumer(
                sessions=runtime.sessions,
                mail=MailSettings(web_base_url=settings.web_base_url, incident_admin_size=settings.incident_admin_size),
                on_committed=deliveries.wake,
                batch_size=settings.batch_size,
            ).handle,
        )
        runtime.record_dead_letters(QUEUE, models.dead_letters)
        await runtime.start()
        runtime.run_in_background("notifier-deliveries", deliveries.run)
        app.state.runtime = runtime
        app.state.deliveries = deliveries
        try:
            yield
        finally:
            await runtime.stop()

    app: FastAPI = create_service_app(title="Helpdesk notifier", settings=settings, lifespan=lifespan)
    app.include_router(router)
    app.include_router(deadletters.router(service="notifier", table=models.dead_letters, queue=QUEUE))
    return app
