"""A service's long-lived resources, built in the app's lifespan: engine, bus, outbox relay, revocations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import deadletters
from shared.bus import Bus, Handler
from shared.db import IdlePoolTrimmer, create_engine, create_sessionmaker, fresh_connection_works, ping
from shared.events import Envelope, UserUpdated
from shared.outage import DependencyGate
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
        relay: bool = True,
    ) -> None:
        """`relay=False`: the outbox is written here but published by a separate relay process."""
        self.settings = settings
        self.database_url = database_url
        self.engine: AsyncEngine = create_engine(
            database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
            behind_pooler=settings.db_behind_pooler,
            application_name=settings.service_name,
        )
        self.sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        # each statement its own transaction (no BEGIN and COMMIT round trips): only for work
        # whose every write is one statement, such as creating a ticket with its outbox row
        self.statement_sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # Consumers pause behind this while the database is away (shared.outage).
        self.gate = DependencyGate(
            name="database",
            probe=lambda: ping(self.engine),
            fresh_probe=lambda: fresh_connection_works(database_url, timeout=settings.db_connect_timeout),
            on_stale=self.engine.dispose,
        )
        self._trimmer = IdlePoolTrimmer(self.engine, idle_timeout=settings.db_idle_timeout)
        self.bus: Bus | None = (
            Bus(
                settings.rabbitmq_url,
                service=settings.service_name,
                prefetch=settings.bus_prefetch,
                gate=self.gate,
            )
            if uses_bus
            else None
        )
        # tokens of demoted or disabled users, refused by shared.auth on this service's own port
        self.revocations = RevocationList()
        if self.bus is not None:
            self.bus.subscribe([UserUpdated.event_type], self.revocations.on_event)
        self.relay: OutboxRelay | None = None
        if outbox is not None and self.bus is not None and relay:
            self.relay = OutboxRelay(
                sessions=self.sessions,
                outbox=outbox,
                bus=self.bus,
                database_url=database_url,
                listen=not settings.db_behind_pooler,
                gate=self.gate,
            )
        self._tasks: list[asyncio.Task[None]] = []

    def consume(self, queue: str, handler: Handler, *, dead_letters: bool = False) -> None:
        assert self.bus is not None
        self.bus.consume(queue, handler, dead_letters=dead_letters)

    def record_dead_letters(
        self, queue: str, table: Table, *, then: Callable[[Envelope], Awaitable[None]] | None = None
    ) -> None:
        """Own `<queue>.dlq`: every dead letter into `table` (shared.deadletters), after `then`."""
        assert self.bus is not None
        self.bus.consume_dead_letters(
            queue,
            deadletters.recorder(sessions=self.sessions, table=table, service=self.settings.service_name, then=then),
        )

    def run_in_background(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Keep a coroutine running for the process's life (cancelled at stop)."""
        self._tasks.append(asyncio.create_task(factory(), name=name))  # type: ignore[arg-type]

    async def start(self) -> None:
        self.run_in_background("db-idle-trim", self._trimmer.run)
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
        await self.gate.close()
        await self.engine.dispose()

    def wake_relay(self) -> None:
        """Publish new outbox rows now rather than at the next NOTIFY or poll."""
        if self.relay is not None:
            self.relay.wake()

    async def ready(self) -> dict[str, bool]:
        checks = {"database": await ping(self.engine)}
        if self.bus is not None:
            checks["broker"] = self.bus.connected
            if self.bus.consumes:
                checks["consuming"] = self.gate.is_open
        return checks

    def alive(self) -> bool:
        """False when the process cannot heal (paused although the database answers): restart it."""
        return self.gate.stuck_for() < self.settings.stuck_limit_s
