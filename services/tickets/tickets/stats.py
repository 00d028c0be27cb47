"""Dashboard figures (GET /api/stats): the range's from `rollups`, the others from `stats_queries`."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from shared.events import OPEN_STATUSES, PRIORITIES, TICKET_STATUSES
from shared.jwt import Principal
from shared.problems import ProblemError
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import rollups, stats_queries
from tickets.schemas import (
    CategoryCount,
    DayCount,
    DeadLetterCount,
    Durations,
    ModeratorLoad,
    OverdueRead,
    StatsQuery,
    StatsRead,
    TriageQueue,
)
from tickets.service import utcnow

PRIORITY_KEYS = (*reversed(PRIORITIES), "none")  # highest first, then tickets without one


def _breakdown(figures: rollups.RangeFigures) -> tuple[dict[str, int], dict[str, int], list[CategoryCount]]:
    """The range's tickets by status, by priority and by category (most first)."""
    by_status: dict[str, int] = dict.fromkeys(TICKET_STATUSES, 0) | figures.by_status
    by_priority = dict.fromkeys(PRIORITY_KEYS, 0)
    for priority, count in figures.by_priority.items():
        by_priority[priority or "none"] += count
    categories = [
        CategoryCount(category=category, count=count)
        for category, count in sorted(figures.by_category.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    ]
    return by_status, by_priority, categories


async def _open_work(
    session: AsyncSession, work: list[stats_queries.OpenWork]
) -> tuple[dict[str, int], dict[str, int], list[ModeratorLoad]]:
    """Open tickets now by status, overdue ones by priority, and each assignee's load (busiest first)."""
    open_now: dict[str, int] = dict.fromkeys(OPEN_STATUSES, 0)
    overdue = dict.fromkeys(PRIORITY_KEYS, 0)
    load: dict[uuid.UUID, dict[str, int]] = {}
    for row in work:
        open_now[row.status] += row.count
        overdue[row.priority or "none"] += row.overdue
        if row.assigned_to_id is not None:
            figures = load.setdefault(row.assigned_to_id, {"open": 0, "in_progress": 0, "overdue": 0})
            figures[row.status] += row.count
            figures["overdue"] += row.overdue
    people = await stats_queries.people_by_id(session, list(load))

    def _who(person_id: uuid.UUID) -> tuple[str | None, str | None]:
        person = people.get(person_id)
        return (person.name, person.email) if person else (None, None)

    loads = [ModeratorLoad(id=pid, name=_who(pid)[0], email=_who(pid)[1], **figures) for pid, figures in load.items()]
    loads.sort(key=lambda m: (-(m.open + m.in_progress), m.name or m.email or ""))
    return open_now, overdue, loads


def _per_day(per_day: dict[str, int], first: date, last: date) -> list[DayCount]:
    days = (last - first).days + 1
    return [
        DayCount(day=day, count=per_day.get(day.isoformat(), 0))
        for day in (first + timedelta(days=i) for i in range(days))
    ]


def _triage_queue(unfinished: dict[str, tuple[int, datetime | None]]) -> TriageQueue:
    return TriageQueue(
        pending=unfinished.get("pending", (0, None))[0],
        waiting=unfinished.get("waiting", (0, None))[0],
        failed=unfinished.get("failed", (0, None))[0],
        oldest_waiting_at=unfinished.get("waiting", (0, None))[1],
    )


async def ticket_stats(
    *, session: AsyncSession, principal: Principal, query: StatsQuery, now: datetime | None = None
) -> StatsRead:
    """Figures for the dashboard: every ticket for admins, the caller's assigned ones for moderators."""
    if principal.role not in ("admin", "moderator"):
        raise ProblemError(403, "Your role may not use this route.")
    now = now or utcnow()
    first, last = query.days(now.date())
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    scope = stats_queries.StatsScope(assigned_to=None if principal.is_admin else principal.id)

    in_range = await rollups.range_figures(session, scope, start=start, end=end)
    per_day, durations = in_range.per_day, in_range.durations
    work = await stats_queries.open_work(session, scope, now=now)
    unfinished = await stats_queries.unfinished_triage(session, scope)

    by_status, by_priority, by_category = _breakdown(in_range)
    open_now, overdue, loads = await _open_work(session, work)
    return StatsRead(
        scope="all" if principal.is_admin else "assigned_to_me",
        start=first,
        end=last,
        generated_at=now,
        created=sum(per_day.values()),
        per_day=_per_day(per_day, first, last),
        by_status=by_status,
        by_priority=by_priority,
        by_category=by_category,
        time_to_triage=Durations(
            count=durations.triaged, p50_seconds=durations.triage_p50, p90_seconds=durations.triage_p90
        ),
        time_to_resolve=Durations(
            count=durations.resolved, p50_seconds=durations.resolve_p50, p90_seconds=durations.resolve_p90
        ),
        open=open_now,
        overdue=OverdueRead(total=sum(overdue.values()), by_priority=overdue),
        load=loads,
        triage=_triage_queue(unfinished),
        dead_letters=(
            DeadLetterCount(open=await stats_queries.open_dead_letters(session)) if principal.is_admin else None
        ),
    )
