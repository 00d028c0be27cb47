"""preferences.ticket_commented: mail the other side of a ticket about a public comment

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "preferences",
        sa.Column("ticket_commented", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        schema="notifier",
    )


def downgrade() -> None:
    op.drop_column("preferences", "ticket_commented", schema="notifier")
