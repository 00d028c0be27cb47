"""server-side statistics: tickets.resolved_at (backfilled from the history) and the indexes
GET /api/stats reads by index-only scans

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('open', 'in_progress')"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("resolved_at", sa.DateTime(timezone=True)), schema="tickets")
    # the last move from open or in progress to resolved or closed (a reopened ticket has none)
    op.execute(
        """
        UPDATE tickets.tickets AS t SET resolved_at = h.at
        FROM (
            SELECT ticket_id, max(created_at) AS at FROM tickets.ticket_history
            WHERE changes->'status'->>'old' IN ('open', 'in_progress')
              AND changes->'status'->>'new' IN ('resolved', 'closed')
            GROUP BY ticket_id
        ) AS h
        WHERE h.ticket_id = t.id AND t.status IN ('resolved', 'closed')
        """
    )
    op.execute(
        "CREATE INDEX ix_tickets_stats ON tickets.tickets (created_at) "
        "INCLUDE (status, priority, category, triaged_at, resolved_at)"
    )
    op.execute(
        f"CREATE INDEX ix_tickets_open_work ON tickets.tickets (assigned_to_id, status, priority, due_at) WHERE {OPEN}"
    )
    op.execute(
        "CREATE INDEX ix_tickets_triage_unfinished ON tickets.tickets (triage_state, created_at) "
        "WHERE triage_state <> 'done'"
    )


def downgrade() -> None:
    for name in ("ix_tickets_triage_unfinished", "ix_tickets_open_work", "ix_tickets_stats"):
        op.execute(f"DROP INDEX tickets.{name}")
    op.drop_column("tickets", "resolved_at", schema="tickets")
