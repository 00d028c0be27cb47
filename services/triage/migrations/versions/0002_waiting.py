"""triage.tickets.waiting_for / waiting_since: tickets waiting for a fitting moderator's free slot

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tickets", sa.Column("waiting_for", postgresql.JSONB(), nullable=True), schema="triage"
    )
    op.add_column(
        "tickets",
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        schema="triage",
    )
    op.create_index(
        "ix_tickets_waiting",
        "tickets",
        ["waiting_since"],
        schema="triage",
        postgresql_where=sa.text("state = 'waiting'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_waiting", table_name="tickets", schema="triage")
    op.drop_column("tickets", "waiting_since", schema="triage")
    op.drop_column("tickets", "waiting_for", schema="triage")
