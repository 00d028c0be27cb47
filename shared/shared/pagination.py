"""Opaque keyset cursors: newest first by (created_at, id)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from shared.problems import ProblemError

# Postgres keeps timestamptz far beyond these, but nothing we store is older or newer: a cursor
# outside them was not made by us, and at the edges a UTC conversion would overflow
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor points after; 422 for anything we did not make."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise ValueError("not a pair of strings")
        created_at, row_id = decoded
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        if not EARLIEST <= parsed.astimezone(UTC) <= LATEST:
            raise ValueError("time out of range")
        return parsed, uuid.UUID(row_id)
    except (ValueError, TypeError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422,
            "cursor: not a cursor this API returned",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc
