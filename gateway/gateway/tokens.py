"""The gateway's token check: shared.jwt.CachingVerifier (the services use the same one)."""

from __future__ import annotations

from shared.jwt import CachingVerifier, InvalidTokenError

__all__ = ["CachingVerifier", "InvalidTokenError"]
