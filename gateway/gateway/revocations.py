"""Tokens issued before a user's `tokens_valid_after` are refused (role lowered, user disabled).

The list and its `user.updated` handler are shared.revocations (every service applies them).
The gateway learns revocations three ways, so a missed event costs at most one refresh period:
`user.updated` events on a private queue (every replica gets every event), a fetch of
`GET {auth}/internal/revocations?since=...` at start and after the broker connection comes
back, and the same fetch every `revocation_refresh_s` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import BaseModel, ValidationError
from shared.bus import Bus
from shared.logging import get_logger
from shared.revocations import RevocationList

__all__ = ["RevocationList", "RevocationSync"]

log = get_logger(__name__)


class Revocation(BaseModel):
    user_id: uuid.UUID
    tokens_valid_after: datetime


class RevocationPage(BaseModel):
    items: list[Revocation]


class RevocationSync:
    """Keeps a `RevocationList` filled from auth: at start, after a reconnect, and periodically."""

    def __init__(
        self,
        *,
        revocations: RevocationList,
        session: aiohttp.ClientSession,
        auth_url: str,
        token_ttl: timedelta,
        refresh_s: float,
        bus: Bus | None,
    ) -> None:
        self._revocations = revocations
        self._session = session
        self._url = f"{auth_url}/internal/revocations"
        self._token_ttl = token_ttl
        self._refresh_s = refresh_s
        self._bus = bus
        self._task: asyncio.Task[None] | None = None
        self.last_success: float | None = None

    async def fetch(self) -> bool:
        """One fetch of the revocations that can still matter; False when auth did not answer."""
        since = datetime.now(UTC) - self._token_ttl - timedelta(minutes=1)
        params = {"since": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        try:
            async with self._session.get(
                self._url, params=params, timeout=aiohttp.ClientTimeout(total=5, connect=2)
            ) as response:
                if response.status != 200:
                    log.warning("revocations_fetch_status", status=response.status)
                    return False
                body: Any = await response.json(content_type=None)
            page = RevocationPage.model_validate(body)
        except (aiohttp.ClientError, TimeoutError, ValueError, ValidationError) as exc:
            log.warning("revocations_fetch_failed", error=type(exc).__name__)
            return False
        for item in page.items:
            self._revocations.add(item.user_id, item.tokens_valid_after)
        self._revocations.prune()
        self.last_success = time.monotonic()
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        next_fetch = 0.0  # at once
        was_connected = False
        while True:
            now = time.monotonic()
            connected = self._bus.connected if self._bus is not None else False
            if connected and not was_connected:
                # events published while we were away are lost for this private queue
                next_fetch = now
            was_connected = connected
            if now >= next_fetch:
                ok = await self.fetch()
                # after a failure try again soon: a token revoked meanwhile must not live long
                next_fetch = time.monotonic() + (self._refresh_s if ok else min(2.0, self._refresh_s))
            await asyncio.sleep(0.5)
