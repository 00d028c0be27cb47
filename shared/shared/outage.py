"""Telling a dependency outage from a bad message, and waiting out the outage.

A handler that fails because Postgres, a pool or the broker is away has done nothing wrong with
its message: requeueing it would spend the message's delivery budget (`x-delivery-count`) on an
outage and dead-letter good events after a few seconds. `is_unavailable` recognises those
failures; `DependencyGate` is the pause every consumer of a process waits behind until a probe
says the dependency answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shared.logging import get_logger
from shared.metrics import DEPENDENCY_PAUSED

log = get_logger(__name__)

# SQLSTATE classes that mean "the server or the way to it", never "this statement":
# 08 connection exception, 53 insufficient resources (too many connections, out of memory/disk),
# 57P operator intervention (shutdown, terminated, cannot connect now), 28 authorization (a role
# that may not log in: an operator cut it).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "28")


class DependencyUnavailableError(Exception):
    """A dependency (database, broker) cannot be reached right now; try again later."""


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a dependency is out of reach, not the input bad."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_itself(current):
            return True
        nested = current.orig if isinstance(current, DBAPIError) else None
        current = nested if isinstance(nested, BaseException) else (current.__cause__ or current.__context__)
    return False


def never_the_message(exc: BaseException) -> bool:
    """An outage no message can cause: no connection at all (refused, reset, no slot, pool empty).

    Unlike a bare OSError or TimeoutError (which a handler bug can raise too), these never count
    against a message, however often they repeat.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DependencyUnavailableError | PoolTimeoutError | ConnectionError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        nested = current.orig if isinstance(current, DBAPIError) else None
        current = nested if isinstance(nested, BaseException) else (current.__cause__ or current.__context__)
    return False


def _unavailable_itself(exc: BaseException) -> bool:
    if isinstance(exc, DependencyUnavailableError | PoolTimeoutError | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        # "connection is closed", "another operation is in progress" on a connection that broke
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


Probe = Callable[[], Awaitable[bool]]


class DependencyGate:
    """Open while the dependencies answer; closed (consumers paused) from a failure until a probe passes.

    `report(exc)` closes it and starts probing with backoff (`first_backoff` doubling up to
    `max_backoff`, so a dependency back after any outage is noticed within `max_backoff`);
    `wait_open()` blocks until it opens again. `stuck_for()` says how long it has been closed
    although `recovered()` (a fresh connection, bypassing the pool) says the dependency is back:
    that is a process that cannot heal, and liveness fails on it.
    """

    def __init__(
        self,
        *,
        name: str,
        probe: Probe,
        first_backoff: float = 0.25,
        max_backoff: float = 4.0,
        on_stale: Callable[[], Awaitable[None]] | None = None,
        fresh_probe: Probe | None = None,
    ) -> None:
        self.name = name
        self._probe = probe
        self._fresh_probe = fresh_probe
        self._on_stale = on_stale
        self._first = first_backoff
        self._max = max_backoff
        self._open = asyncio.Event()
        self._open.set()
        self._task: asyncio.Task[None] | None = None
        self._closed_at: float | None = None
        self._stuck_since: float | None = None
        self.pauses = 0

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def report(self, exc: BaseException) -> None:
        """A dependency failed: pause until the probe passes."""
        if self._task is not None and not self._task.done():
            return
        self._open.clear()
        self._closed_at = time.monotonic()
        self.pauses += 1
        DEPENDENCY_PAUSED.labels(self.name).set(1)
        log.warning("consumers_paused", dependency=self.name, error=type(exc).__name__, detail=str(exc)[:200])
        self._task = asyncio.create_task(self._recover(), name=f"gate-{self.name}")

    async def wait_open(self) -> None:
        await self._open.wait()

    def stuck_for(self) -> float:
        """Seconds the gate has stayed closed although a fresh connection works (0: not stuck)."""
        if self._stuck_since is None or self.is_open:
            return 0.0
        return time.monotonic() - self._stuck_since

    async def _recover(self) -> None:
        delay = self._first
        try:
            while True:
                await asyncio.sleep(delay)
                if await self._safe(self._probe):
                    break
                if self._fresh_probe is not None and await self._safe(self._fresh_probe):
                    # the server answers a new connection but the pool does not: its pooled
                    # connections are stale; drop them and let the next probe open new ones
                    if self._stuck_since is None:
                        self._stuck_since = time.monotonic()
                    if self._on_stale is not None:
                        log.warning("pool_stale_disposed", dependency=self.name)
                        await self._safe_call(self._on_stale)
                    delay = self._first
                    continue
                delay = min(self._max, delay * 2)
        finally:
            paused = time.monotonic() - (self._closed_at or time.monotonic())
            self._stuck_since = None
            self._open.set()
            DEPENDENCY_PAUSED.labels(self.name).set(0)
            log.info("consumers_resumed", dependency=self.name, paused_s=round(paused, 1))

    @staticmethod
    async def _safe(probe: Probe) -> bool:
        try:
            return await probe()
        except Exception:  # noqa: BLE001 - a probe that raises says "not yet"
            return False

    @staticmethod
    async def _safe_call(action: Callable[[], Awaitable[None]]) -> None:
        with contextlib.suppress(Exception):
            await action()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
