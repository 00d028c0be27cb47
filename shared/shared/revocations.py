"""Tokens issued before a user's `tokens_valid_after` are refused (role lowered, user disabled).

Every process keeps a `RevocationList` filled from `user.updated` events on a private queue
(every replica gets every event): `shared.runtime.Runtime` subscribes it, `shared.auth` checks
it, so a demoted or disabled user's token is refused on a service's own port as at the gateway.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from shared.bus import PermanentError
from shared.events import Envelope, UserUpdated
from shared.jwt import Principal
from shared.logging import get_logger

log = get_logger(__name__)

# auth's longest access-token lifetime: older revocations cannot refuse a live token
DEFAULT_TOKEN_TTL = timedelta(hours=24)


class RevocationList:
    """user id -> the instant before which that user's tokens are no longer accepted."""

    def __init__(self, *, token_ttl: timedelta = DEFAULT_TOKEN_TTL) -> None:
        self._valid_after: dict[uuid.UUID, datetime] = {}
        self._token_ttl = token_ttl

    def add(self, user_id: uuid.UUID, valid_after: datetime) -> None:
        if valid_after.tzinfo is None:
            valid_after = valid_after.replace(tzinfo=UTC)
        current = self._valid_after.get(user_id)
        if current is None or valid_after > current:
            self._valid_after[user_id] = valid_after

    def revoked(self, principal: Principal) -> bool:
        valid_after = self._valid_after.get(principal.id)
        return valid_after is not None and principal.issued_at < valid_after

    def prune(self, now: datetime | None = None) -> None:
        """Forget entries so old that every token they refuse has expired anyway."""
        horizon = (now or datetime.now(UTC)) - self._token_ttl - timedelta(minutes=1)
        for user_id in [u for u, at in self._valid_after.items() if at < horizon]:
            del self._valid_after[user_id]

    def __len__(self) -> int:
        return len(self._valid_after)

    async def on_event(self, envelope: Envelope) -> None:
        """Bus handler for `user.updated`."""
        if envelope.type != UserUpdated.event_type:
            return
        try:
            event = envelope.payload()
        except ValidationError as exc:
            raise PermanentError(f"malformed user.updated: {exc.error_count()} errors") from exc
        assert isinstance(event, UserUpdated)
        valid_after = event.tokens_valid_after
        if not event.active:
            # a disabled user loses every token issued up to the change, whatever auth sent
            valid_after = max(valid_after or envelope.occurred_at, envelope.occurred_at)
        if valid_after is not None:
            self.prune()
            self.add(event.user_id, valid_after)
            log.info("tokens_revoked", user_id=str(event.user_id), valid_after=valid_after.isoformat())
