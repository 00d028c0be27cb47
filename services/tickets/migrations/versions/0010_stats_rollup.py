"""tickets.stats_days: the counts GET /api/stats reads per day of creation, kept by triggers in the
same transaction as every change of a ticket, and the indexes that make its percentiles exact

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A duration's histogram bucket: 12 per unit of ln(1 + seconds), so a bucket spans 8.7% of its
# value (1/12 s below a second). tickets/rollups.py writes the same expressions: an index is only
# used for the expression it was built on.
def _bucket(end: str, row: str = "") -> str:
    return f"floor(ln(1 + greatest(extract(epoch FROM {row}{end} - {row}created_at)::float8, 0)) * 12)::integer"


def _resolved(row: str = "") -> str:
    return f"{row}resolved_at IS NOT NULL AND {row}status IN ('resolved', 'closed')"


def _facts(relation: str) -> str:
    """(day, kind, key) of each figure a ticket adds to, for every ticket of `relation`."""
    # the relation is one of three names written in this file, never input
    return f"""
        SELECT CAST(t.created_at AT TIME ZONE 'UTC' AS date) AS day, f.kind, f.key
        FROM {relation} AS t, LATERAL (VALUES
            ('status', t.status::text),
            ('priority', t.priority::text),
            ('category', t.category::text),
            ('triage', CASE WHEN t.triaged_at IS NOT NULL THEN {_bucket("triaged_at", "t.")}::text END),
            ('resolve', CASE WHEN {_resolved("t.")} THEN {_bucket("resolved_at", "t.")}::text END)
        ) AS f(kind, key)
        WHERE f.kind IN ('status', 'priority', 'category') OR f.key IS NOT NULL"""  # noqa: S608


# Per statement, from its transition tables: a COPY or a bulk update adds one row per figure it
# changed, not one per ticket. Rows are deltas (n may be negative); tickets/rollups.py folds them
# into one row per (day, kind, key) when the figures are read, so writers never wait on each other.
TRACK = f"""
CREATE FUNCTION tickets.stats_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tickets.stats_days (day, kind, key, n)
        SELECT day, kind, key, count(*) FROM ({_facts("new_rows")}) AS d GROUP BY day, kind, key;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tickets.stats_days (day, kind, key, n)
        SELECT day, kind, key, -count(*) FROM ({_facts("old_rows")}) AS d GROUP BY day, kind, key;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM tickets.stats_days;
    ELSE
        INSERT INTO tickets.stats_days (day, kind, key, n)
        SELECT day, kind, key, sum(n) FROM (
            SELECT *, 1 AS n FROM ({_facts("new_rows")}) AS a
            UNION ALL
            SELECT *, -1 AS n FROM ({_facts("old_rows")}) AS b
        ) AS d GROUP BY day, kind, key HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tickets.stats_days (
            day date NOT NULL,
            kind text NOT NULL,
            key text,
            n integer NOT NULL,
            folded boolean NOT NULL DEFAULT false
        )
        """
    )
    op.execute("CREATE INDEX ix_stats_days_day ON tickets.stats_days (day, kind, key) INCLUDE (n)")
    op.execute("CREATE INDEX ix_stats_days_unfolded ON tickets.stats_days (day) WHERE NOT folded")
    op.execute(TRACK)
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER stats_track_{event.lower()} AFTER {event} ON tickets.tickets"
            f" REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION tickets.stats_track()"
        )
    op.execute(
        "CREATE TRIGGER stats_track_truncate AFTER TRUNCATE ON tickets.tickets"
        " FOR EACH STATEMENT EXECUTE FUNCTION tickets.stats_track()"
    )
    op.execute(
        "INSERT INTO tickets.stats_days (day, kind, key, n, folded)"  # noqa: S608
        f" SELECT day, kind, key, count(*), true FROM ({_facts('tickets.tickets')}) AS d GROUP BY day, kind, key"
    )
    op.execute("ANALYZE tickets.stats_days")
    # the exact p50/p90: the buckets' counts say which bucket holds the rank, these find its value
    op.execute(
        f"CREATE INDEX ix_tickets_triage_time ON tickets.tickets (({_bucket('triaged_at')}), created_at)"
        " INCLUDE (triaged_at) WHERE triaged_at IS NOT NULL"
    )
    op.execute(
        f"CREATE INDEX ix_tickets_resolve_time ON tickets.tickets (({_bucket('resolved_at')}), created_at)"
        f" INCLUDE (resolved_at, status) WHERE {_resolved()}"
    )
    # a moderator's figures stay live (their tickets only): index-only, without a heap fetch each
    op.execute(
        "CREATE INDEX ix_tickets_assignee_stats ON tickets.tickets (assigned_to_id, created_at)"
        " INCLUDE (status, priority, category, triaged_at, resolved_at)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX tickets.ix_tickets_assignee_stats")
    op.execute("DROP INDEX tickets.ix_tickets_resolve_time")
    op.execute("DROP INDEX tickets.ix_tickets_triage_time")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER stats_track_{event} ON tickets.tickets")
    op.execute("DROP FUNCTION tickets.stats_track()")
    op.execute("DROP TABLE tickets.stats_days")
