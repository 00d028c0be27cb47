"""tickets.waiting_for: the moderators a waiting ticket waits for, so it shows in their queue

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # tickets already waiting keep NULL (admins see them); the result that assigns them clears it
    op.add_column(
        "tickets", sa.Column("waiting_for", postgresql.ARRAY(postgresql.UUID(as_uuid=True))), schema="tickets"
    )
    op.create_index(
        "ix_tickets_waiting_for",
        "tickets",
        ["waiting_for"],
        schema="tickets",
        postgresql_using="gin",
        postgresql_where=sa.text("waiting_for IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_waiting_for", table_name="tickets", schema="tickets")
    op.drop_column("tickets", "waiting_for", schema="tickets")
