"""people.revision: the last user.updated revision applied

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "people",
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        schema="tickets",
    )


def downgrade() -> None:
    op.drop_column("people", "revision", schema="tickets")
