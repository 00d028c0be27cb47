"""Who solves which category: what ticket updates teach, and each moderator's record (`assignment.Track`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import DONE_STATUSES, OPEN_STATUSES, STAFF_ROLES, TicketUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from triage import repository
from triage.assignment import HISTORY_DAYS, Track


async def history(session: AsyncSession, *, category: str) -> dict[uuid.UUID, Track]:
    """Each moderator's record with this category over the last HISTORY_DAYS days."""
    since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for user_id, kind, n in await repository.solved_counts(session, category=category, since=since):
        counts.setdefault(user_id, {})[kind] = n
    return {uid: Track(**{k: v for k, v in c.items() if k in _TRACK_KINDS}) for uid, c in counts.items()}


_TRACK_KINDS = ("resolved", "reopened", "taken", "handed_off")
_DONE = ("resolved",)


def routing_examples(event: TicketUpdated) -> list[dict[str, Any]]:
    """What a ticket update teaches about who solves which category (see `assignment.Track`)."""
    snap = event.ticket
    if not snap.category:
        return []
    rows: list[dict[str, Any]] = []

    def add(user_id: uuid.UUID, kind: str) -> None:
        rows.append({"user_id": user_id, "ticket_id": snap.id, "category": snap.category, "kind": kind})

    status = event.changes.get("status")
    holder = snap.assigned_to.id if snap.assigned_to else None
    if status is not None and holder is not None:
        if status.old in OPEN_STATUSES and status.new in _DONE:
            add(holder, "resolved")
        elif status.old in DONE_STATUSES and status.new in OPEN_STATUSES:
            add(holder, "reopened")
    moved = event.changes.get("assigned_to")
    # a reassignment by staff is a labelled routing example, as a category correction is
    if moved is not None and event.actor.kind == "user" and event.actor.role in STAFF_ROLES:
        raw = moved.old.get("id") if isinstance(moved.old, dict) else None
        old = str(raw) if raw is not None else None
        if holder is not None and str(holder) != old:
            add(holder, "taken")
        if old is not None and old != str(holder):
            add(uuid.UUID(old), "handed_off")
    return rows
