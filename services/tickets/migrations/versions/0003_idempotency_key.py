"""tickets.idempotency_key: a repeated POST /api/tickets with the same key returns the first ticket

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("idempotency_key", sa.String(255), nullable=True), schema="tickets")
    op.add_column("tickets", sa.Column("request_hash", sa.String(64), nullable=True), schema="tickets")
    op.create_index(
        "uq_tickets_idempotency",
        "tickets",
        ["created_by_id", "idempotency_key"],
        unique=True,
        schema="tickets",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_tickets_idempotency", table_name="tickets", schema="tickets")
    op.drop_column("tickets", "request_hash", schema="tickets")
    op.drop_column("tickets", "idempotency_key", schema="tickets")
