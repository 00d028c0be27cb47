"""The range figures of GET /api/stats: per day, by status/priority/category, time to triage and
to resolve (exact p50/p90), for the tickets created in a range of UTC days.

Admins' figures come from `tickets.stats_days` (migration 0010): statement triggers on
`tickets.tickets` add a row of deltas per (day of creation, kind, key) in the same transaction as
every insert, update and delete, so the table always equals the live computation. Reading folds
those deltas into one row per (day, kind, key) first (concurrent writers only ever insert, so they
never wait on one another or on the fold). Cost: about 150 rows per day of the range instead of
every ticket created in it.

The durations are kept as histograms (kind `triage`/`resolve`, key = bucket, 12 buckets per unit
of ln(1 + seconds)). Their counts say which bucket holds the p50 or p90 rank; the exact value is
then read from the tickets of that bucket alone, by the expression indexes ix_tickets_triage_time
and ix_tickets_resolve_time. The result is exactly percentile_cont's over every ticket, at the
cost of reading one bucket's tickets (a few percent of the range) per percentile.

A moderator's figures (the tickets assigned to them, a few percent of all) are computed live from
ix_tickets_assigned_to (stats_queries.range_counts / range_durations).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.db import transaction
from shared.logging import get_logger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import stats_queries

log = get_logger(__name__)

FOLD_LOCK = (0x7374, 0)  # "st": one fold at a time; a second reader skips it (unfolded rows still count)
KINDS = ("status", "priority", "category")
PERCENTILES = (0.5, 0.9)


def bucket_sql(end: str) -> str:
    """The bucket of `end - created_at`, written exactly as the indexes of migration 0010 are."""
    return f"floor(ln(1 + greatest(extract(epoch FROM {end} - created_at)::float8, 0)) * 12)::integer"


# Durations of one kind: which tickets have one, and its bucket (same text as the partial indexes).
DURATIONS = {
    "triage": ("triaged_at", "triaged_at IS NOT NULL"),
    "resolve": ("resolved_at", "resolved_at IS NOT NULL AND status IN ('resolved', 'closed')"),
}


class RollupDrift(Exception):
    """The histogram counts a ticket the tickets table does not have."""


@dataclass
class RangeFigures:
    """What the range part of the stats shows: counts per day and per value, and the durations."""

    per_day: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_priority: dict[str | None, int] = field(default_factory=dict)
    by_category: dict[str | None, int] = field(default_factory=dict)
    durations: stats_queries.RangeDurations = stats_queries.RangeDurations(0, None, None, 0, None, None)


async def range_figures(
    session: AsyncSession, scope: stats_queries.StatsScope, *, start: datetime, end: datetime
) -> RangeFigures:
    """The figures of the tickets created in [start, end) (whole UTC days) for this scope."""
    if scope.assigned_to is not None:
        return await live_figures(session, scope, start=start, end=end)
    await fold(session)
    first, last = start.date(), end.date()
    rows = await session.execute(
        text(
            "SELECT grouping(kind, key) = 3 AS by_day, CAST(day AS text) AS day, kind, key, sum(n) AS n,"
            " sum(n) FILTER (WHERE kind = 'status') AS tickets"
            " FROM tickets.stats_days WHERE day >= :first AND day < :last"
            " GROUP BY GROUPING SETS ((kind, key), (day))"
        ),
        {"first": first, "last": last},
    )
    figures = RangeFigures()
    buckets: dict[str, dict[int, int]] = {"triage": {}, "resolve": {}}
    for row in rows:
        n = int((row.tickets if row.by_day else row.n) or 0)
        if n == 0:
            continue
        if row.by_day:
            figures.per_day[row.day] = n
        elif row.kind == "status":
            figures.by_status[row.key] = n
        elif row.kind == "priority":
            figures.by_priority[row.key] = n
        elif row.kind == "category":
            figures.by_category[row.key] = n
        else:
            buckets[row.kind][int(row.key)] = n
    try:
        triage = await _percentiles(session, "triage", buckets["triage"], start=start, end=end)
        resolve = await _percentiles(session, "resolve", buckets["resolve"], start=start, end=end)
    except RollupDrift as drift:
        # never a wrong figure: the tickets say otherwise (the table was written with its triggers off?)
        log.error("stats_rollup_drift", kind=str(drift))
        figures.durations = await stats_queries.range_durations(session, scope, start=start, end=end)
        return figures
    figures.durations = stats_queries.RangeDurations(
        sum(buckets["triage"].values()), *triage, sum(buckets["resolve"].values()), *resolve
    )
    return figures


async def fold(session: AsyncSession) -> None:
    """Sum the delta rows of every day that has some into one row per (day, kind, key)."""
    locked = (
        await session.execute(
            text("SELECT pg_try_advisory_xact_lock(:space, :key)"), {"space": FOLD_LOCK[0], "key": FOLD_LOCK[1]}
        )
    ).scalar_one()
    if not locked:
        return
    # rows committed after this statement's snapshot are neither deleted nor summed: the next fold's
    await session.execute(
        text(
            """
            WITH days AS (SELECT DISTINCT day FROM tickets.stats_days WHERE NOT folded),
            gone AS (
                DELETE FROM tickets.stats_days AS s USING days WHERE s.day = days.day
                RETURNING s.day, s.kind, s.key, s.n
            )
            INSERT INTO tickets.stats_days (day, kind, key, n, folded)
            SELECT day, kind, key, sum(n), true FROM gone GROUP BY day, kind, key HAVING sum(n) <> 0
            """
        )
    )


async def fold_forever(sessions: async_sessionmaker[AsyncSession], every_s: float) -> None:
    """Fold now and then, so deltas do not pile up while nobody opens the dashboard."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with transaction(sessions) as session:
                await fold(session)
        except Exception as exc:  # noqa: BLE001 - the next round retries
            log.warning("stats_fold_failed", error=str(exc)[:200])


def _ranks(count: int) -> Iterable[tuple[float, int, int, float]]:
    """percentile_cont's two neighbouring ranks (0-based) and the weight of the upper one."""
    for p in PERCENTILES:
        position = p * (count - 1)
        low = math.floor(position)
        yield p, low, min(low + 1, count - 1), position - low


def _bucket_of(ordered: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket holding the 0-based `rank`, and how many values lie in the buckets before it."""
    before = 0
    for bucket, n in ordered:
        if rank < before + n:
            return bucket, before
        before += n
    raise RollupDrift(f"rank {rank} beyond {before} values")


async def _percentiles(
    session: AsyncSession, kind: str, buckets: dict[int, int], *, start: datetime, end: datetime
) -> tuple[float | None, float | None]:
    """Exact p50 and p90 (seconds, interpolated like percentile_cont) of one kind's durations."""
    count = sum(buckets.values())
    if count == 0:
        return None, None
    ordered = sorted(buckets.items())
    column, condition = DURATIONS[kind]
    values = []
    for _, low, high, weight in _ranks(count):
        first, before = _bucket_of(ordered, low)
        last, _ = _bucket_of(ordered, high)
        found = (
            await session.execute(
                text(
                    f"SELECT extract(epoch FROM {column} - created_at)::float8 AS seconds"  # noqa: S608
                    f" FROM tickets.tickets WHERE {condition}"
                    f" AND {bucket_sql(column)} BETWEEN :first AND :last"
                    " AND created_at >= :start AND created_at < :end"
                    " ORDER BY seconds OFFSET :offset LIMIT :limit"
                ),
                {
                    "first": first,
                    "last": last,
                    "start": start,
                    "end": end,
                    "offset": low - before,
                    "limit": high - low + 1,
                },
            )
        ).scalars()
        pair = list(found)
        if len(pair) < high - low + 1:
            raise RollupDrift(kind)
        values.append(pair[0] + (pair[-1] - pair[0]) * weight)
    return values[0], values[1]


async def live_figures(
    session: AsyncSession, scope: stats_queries.StatsScope, *, start: datetime, end: datetime
) -> RangeFigures:
    """The same figures computed from the tickets themselves (moderators; the rollup's tests)."""
    per_day, cells = await stats_queries.range_counts(session, scope, start=start, end=end)
    figures = RangeFigures(per_day=per_day)
    for cell in cells:
        figures.by_status[cell.status] = figures.by_status.get(cell.status, 0) + cell.count
        figures.by_priority[cell.priority] = figures.by_priority.get(cell.priority, 0) + cell.count
        figures.by_category[cell.category] = figures.by_category.get(cell.category, 0) + cell.count
    figures.durations = await stats_queries.range_durations(session, scope, start=start, end=end)
    return figures
