"""tickets.triage_state 'waiting': triaged, every fitting moderator at capacity, waiting for a slot

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_tickets_triage_state"), "tickets", schema="tickets", type_="check")
    op.create_check_constraint(
        op.f("ck_tickets_triage_state"),
        "tickets",
        "triage_state IN ('pending', 'done', 'failed', 'waiting')",
        schema="tickets",
    )


def downgrade() -> None:
    op.execute("UPDATE tickets.tickets SET triage_state = 'done' WHERE triage_state = 'waiting'")
    op.drop_constraint(op.f("ck_tickets_triage_state"), "tickets", schema="tickets", type_="check")
    op.create_check_constraint(
        op.f("ck_tickets_triage_state"),
        "tickets",
        "triage_state IN ('pending', 'done', 'failed')",
        schema="tickets",
    )
