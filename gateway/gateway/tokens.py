"""Token verification with a small cache: the same token string is verified once, until it expires.

A signature check plus PyJWT's parsing was about a fifth of the gateway's CPU per request. The
key is the exact token text, so a changed byte is a miss and gets the full check; an entry is
dropped at the token's `exp`; revocation is checked on every request, outside the cache.
"""

from __future__ import annotations

import base64
import json
import time

from shared.jwt import InvalidTokenError, Principal, TokenVerifier


class CachingVerifier:
    def __init__(self, verifier: TokenVerifier, *, max_entries: int = 10_000) -> None:
        self._verifier = verifier
        self._max = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        entry = self._entries.get(token)
        if entry is not None:
            principal, expires = entry
            if time.time() < expires:
                return principal
            del self._entries[token]
        principal = self._verifier.verify(token)
        expiry = _expiry(token)
        if expiry is not None:
            if len(self._entries) >= self._max:
                # oldest first (dicts keep insertion order): cheap and bounded
                del self._entries[next(iter(self._entries))]
            self._entries[token] = (principal, expiry)
        return principal


def _expiry(token: str) -> float | None:
    """`exp` of a token the verifier has just accepted (so the payload is well formed)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


__all__ = ["CachingVerifier", "InvalidTokenError"]
