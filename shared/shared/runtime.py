"""A service's long-lived resources, built in the app's lifespan: engine, bus, outbox relay, revocations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.bus import Bus, Handler
from shared.db import create_engine, create_sessionmaker, ping
from shared.events import UserUpdated
from shared.outbox import OutboxRelay
from shared.revocations import RevocationList
from shared.settings import ServiceSettings


class Runtime:
    """Owns the resources of one service process and reports their readiness."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        database_url: str,
        outbox: Table | None = None,
        uses_bus: bool = True,
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.engine: AsyncEngine = create_engine(
            database_url, pool_size=settings.db_pool_size, application_name=settings.service_name
        )
        self.sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self.bus: Bus | None = (
            Bus(settings.rabbitmq_url, service=settings.service_name, prefetch=settings.bus_prefetch)
            if uses_bus
            else None
        )
        # tokens of demoted or disabled users, refused by shared.auth on this service's own port
        self.revocations = RevocationList()
        if self.bus is not None:
            self.bus.subscribe([UserUpdated.event_type], self.revocations.on_event)
        self.relay: OutboxRelay | None = None
        if outbox is not None and self.bus is not None:
            self.relay = OutboxRelay(
                sessions=self.sessions, outbox=outbox, bus=self.bus, database_url=database_url
            )
        self._tasks: list[asyncio.Task[None]] = []

    def consume(self, queue: str, handler: Handler, *, dead_letters: bool = False) -> None:
        assert self.bus is not None
        self.bus.consume(queue, handler, dead_letters=dead_letters)

    def run_in_background(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Keep a coroutine running for the process's life (cancelled at stop)."""
        self._tasks.append(asyncio.create_task(factory(), name=name))  # type: ignore[arg-type]

    async def start(self) -> None:
        if self.bus is not None:
            await self.bus.start()
        if self.relay is not None:
            await self.relay.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.relay is not None:
            await self.relay.stop()
        if self.bus is not None:
            await self.bus.close()
        await self.engine.dispose()

    def wake_relay(self) -> None:
        """Publish new outbox rows now rather than at the next NOTIFY or poll."""
        if self.relay is not None:
            self.relay.wake()

    async def ready(self) -> dict[str, bool]:
        checks = {"database": await ping(self.engine)}
        if self.bus is not None:
            checks["broker"] = self.bus.connected
        return checks
