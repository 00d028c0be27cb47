"""Keyset pages: opaque cursors over (time, id), and the one way to cut a page.

A listing fetches `fetch_limit(limit)` rows (one more than the page, to learn whether another
page follows) ordered by (time, id), and `keyset_page` cuts them into the page and the cursor
of the next one, made from the page's last row.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.problems import ProblemError

# Postgres keeps timestamptz far beyond these, but nothing we store is older or newer: a cursor
# outside them was not made by us, and at the edges a UTC conversion would overflow
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

T = TypeVar("T")


def fetch_limit(limit: int) -> int:
    """How many rows to fetch for a page of `limit`: one more tells whether a next page exists."""
    return limit + 1


def by_created(row: Any) -> tuple[datetime, uuid.UUID]:
    """The usual keyset key: the row's (created_at, id)."""
    return row.created_at, row.id


def keyset_page(
    rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, uuid.UUID]] = by_created
) -> tuple[list[T], str | None]:
    """The page (at most `limit` of `rows`, fetched with `fetch_limit`) and the next page's cursor."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1]))


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
