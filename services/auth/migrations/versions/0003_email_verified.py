"""users.email_verified: only accounts whose owner proved the mailbox may become staff

Existing staff (moderators, admins) count as verified: they were promoted by an admin who knew
them. Existing plain users are not; they may ask for the verification mail again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 02:45:00
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
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="auth",
    )
    op.execute("UPDATE auth.users SET email_verified = true WHERE role IN ('moderator', 'admin')")


def downgrade() -> None:
    op.drop_column("users", "email_verified", schema="auth")
