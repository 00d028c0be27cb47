"""users.email_verified, users.opened_by_mail: who proved their mailbox, who wrote to us first

An unverified account is mailed nothing but its verification link, except an account made from
a mail it sent: the answers about the tickets it opened by mail go back to that mailbox.

Existing rows follow auth's migration 0003: staff (moderators, admins) count as verified, plain
users do not until a user.updated says so.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="notifier",
    )
    op.add_column(
        "users",
        sa.Column("opened_by_mail", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="notifier",
    )
    op.execute("UPDATE notifier.users SET email_verified = true WHERE role IN ('moderator', 'admin')")


def downgrade() -> None:
    op.drop_column("users", "opened_by_mail", schema="notifier")
    op.drop_column("users", "email_verified", schema="notifier")
