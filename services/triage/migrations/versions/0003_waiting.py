"""triage.tickets.waiting_for / waiting_since (tickets waiting for a fitting moderator's free slot);
triage.solved (who resolved, reopened, was given or lost which kind of ticket)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("waiting_for", postgresql.JSONB(), nullable=True), schema="triage")
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

    op.create_table(
        "solved",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_solved")),
        schema="triage",
    )
    op.create_index("ix_solved_category_at", "solved", ["category", "at"], schema="triage")


def downgrade() -> None:
    op.drop_index("ix_solved_category_at", table_name="solved", schema="triage")
    op.drop_table("solved", schema="triage")
    op.drop_index("ix_tickets_waiting", table_name="tickets", schema="triage")
    op.drop_column("tickets", "waiting_since", schema="triage")
    op.drop_column("tickets", "waiting_for", schema="triage")
