"""comments by author and time: the per-user comment quota counts them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_comments_author_created", "comments", ["author_id", "created_at"], schema="tickets")


def downgrade() -> None:
    op.drop_index("ix_comments_author_created", table_name="comments", schema="tickets")
