"""Opaque keyset cursors: newest first by (created_at, id)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from shared.problems import ProblemError


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor points after; 422 for anything we did not make."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed, uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422,
            "cursor: not a cursor this API returned",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc
