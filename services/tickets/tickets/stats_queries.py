"""The queries of GET /api/stats (`stats.py`): each figure one aggregate over an index."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.db import sql_in
from shared.events import OPEN_STATUSES
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import Person

# Each figure is one aggregate the planner answers from an index: a moderator's range figures by
# an index-only scan of ix_tickets_assignee_stats (0010; admins' come from rollups.py), the
# open work from the partial ix_tickets_open_work, triage's queue from ix_tickets_triage_unfinished.


@dataclass(frozen=True)
class StatsScope:
    """Which tickets the figures cover: every one, or those assigned to one person."""

    assigned_to: uuid.UUID | None = None

    def where(self) -> str:
        return "" if self.assigned_to is None else " AND assigned_to_id = CAST(:assignee AS uuid)"

    def params(self) -> dict[str, object]:
        return {} if self.assigned_to is None else {"assignee": self.assigned_to}


@dataclass(frozen=True)
class StatsCell:
    status: str
    priority: str | None
    category: str | None
    count: int


@dataclass(frozen=True)
class OpenWork:
    assigned_to_id: uuid.UUID | None
    status: str
    priority: str | None
    count: int
    overdue: int


@dataclass(frozen=True)
class RangeDurations:
    triaged: int
    triage_p50: float | None
    triage_p90: float | None
    resolved: int
    resolve_p50: float | None
    resolve_p90: float | None


_RANGE = "created_at >= CAST(:start AS timestamptz) AND created_at < CAST(:end AS timestamptz)"


async def range_counts(
    session: AsyncSession, scope: StatsScope, *, start: datetime, end: datetime
) -> tuple[dict[str, int], list[StatsCell]]:
    """Tickets created in [start, end): per UTC day (ISO day -> count) and per (status, priority,
    category), both from one scan (grouping sets)."""
    rows = await session.execute(
        text(
            "SELECT grouping(status, priority, category) = 7 AS by_day,"  # noqa: S608
            " CAST(CAST(created_at AT TIME ZONE 'UTC' AS date) AS text) AS day, status, priority, category,"
            " count(*) AS n"
            f" FROM tickets.tickets WHERE {_RANGE}{scope.where()}"
            " GROUP BY GROUPING SETS ((CAST(created_at AT TIME ZONE 'UTC' AS date)), (status, priority, category))"
        ),
        {"start": start, "end": end, **scope.params()},
    )
    per_day: dict[str, int] = {}
    cells: list[StatsCell] = []
    for row in rows:
        if row.by_day:
            per_day[row.day] = int(row.n)
        else:
            cells.append(StatsCell(row.status, row.priority, row.category, int(row.n)))
    return per_day, cells


async def range_durations(
    session: AsyncSession, scope: StatsScope, *, start: datetime, end: datetime
) -> RangeDurations:
    """p50/p90 (seconds) of time to triage and to resolve of the tickets created in [start, end)."""
    row = (
        await session.execute(
            text(
                """
                SELECT count(triaged_at) AS triaged,
                       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP
                           (ORDER BY extract(epoch FROM triaged_at - created_at))
                           FILTER (WHERE triaged_at IS NOT NULL) AS triage,
                       count(resolved_at) FILTER (WHERE status IN ('resolved', 'closed')) AS resolved,
                       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP
                           (ORDER BY extract(epoch FROM resolved_at - created_at))
                           FILTER (WHERE resolved_at IS NOT NULL AND status IN ('resolved', 'closed')) AS resolve
                FROM tickets.tickets WHERE """  # noqa: S608
                + _RANGE
                + scope.where()
            ),
            {"start": start, "end": end, **scope.params()},
        )
    ).one()
    triage = row.triage or [None, None]
    resolve = row.resolve or [None, None]
    return RangeDurations(int(row.triaged), triage[0], triage[1], int(row.resolved), resolve[0], resolve[1])


async def open_work(session: AsyncSession, scope: StatsScope, *, now: datetime) -> list[OpenWork]:
    """Open and in-progress tickets now, by (assignee, status, priority), with how many are overdue."""
    rows = await session.execute(
        text(
            "SELECT assigned_to_id, status, priority, count(*) AS n,"  # noqa: S608
            " count(*) FILTER (WHERE due_at < CAST(:now AS timestamptz)) AS overdue"
            f" FROM tickets.tickets WHERE {sql_in('status', OPEN_STATUSES)}{scope.where()} GROUP BY 1, 2, 3"
        ),
        {"now": now, **scope.params()},
    )
    return [OpenWork(row.assigned_to_id, row.status, row.priority, int(row.n), int(row.overdue)) for row in rows]


async def unfinished_triage(session: AsyncSession, scope: StatsScope) -> dict[str, tuple[int, datetime | None]]:
    """Tickets not triaged (pending, waiting, failed) now: how many and the oldest's creation."""
    rows = await session.execute(
        text(
            "SELECT triage_state, count(*) AS n, min(created_at) AS oldest"  # noqa: S608
            f" FROM tickets.tickets WHERE triage_state <> 'done'{scope.where()} GROUP BY 1"
        ),
        scope.params(),
    )
    return {row.triage_state: (int(row.n), row.oldest) for row in rows}


async def people_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Person]:
    if not ids:
        return {}
    rows = await session.execute(select(Person).where(Person.id.in_(ids)))
    return {person.id: person for person in rows.scalars()}


async def open_dead_letters(session: AsyncSession) -> int:
    """Dead letters of the tickets queue nobody has replayed or discarded yet."""
    return int(
        (await session.execute(text("SELECT count(*) FROM tickets.dead_letters WHERE status = 'open'"))).scalar_one()
    )
