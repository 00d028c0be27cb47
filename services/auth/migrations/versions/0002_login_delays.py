"""login throttling per account and address with growing delays, instead of a hard lock per account

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the old rows counted failures per account alone; they mean nothing to the new keys
    op.execute("DELETE FROM auth.login_throttle")
    op.alter_column("login_throttle", "email", new_column_name="key", type_=sa.String(400), schema="auth")
    op.alter_column("login_throttle", "window_started_at", new_column_name="last_failed_at", schema="auth")
    op.add_column("login_throttle", sa.Column("blocked_until", sa.DateTime(timezone=True)), schema="auth")


def downgrade() -> None:
    op.execute("DELETE FROM auth.login_throttle")
    op.drop_column("login_throttle", "blocked_until", schema="auth")
    op.alter_column("login_throttle", "last_failed_at", new_column_name="window_started_at", schema="auth")
    op.alter_column("login_throttle", "key", new_column_name="email", type_=sa.String(320), schema="auth")
