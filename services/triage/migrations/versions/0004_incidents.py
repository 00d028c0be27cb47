"""triage.incident_members, triage.incidents, triage.incident_feedback (incident detection)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_members",
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.UUID(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_incident_members")),
        schema="triage",
    )
    op.create_index("ix_incident_members_filed", "incident_members", ["filed_at"], schema="triage")
    op.create_index(
        "ix_incident_members_incident",
        "incident_members",
        ["incident_id"],
        schema="triage",
        postgresql_where=sa.text("incident_id IS NOT NULL"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("anchor_ticket_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        schema="triage",
    )
    op.create_table(
        "incident_feedback",
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("incident_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=16), server_default=sa.text("'not_same'"), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "incident_id", name=op.f("pk_incident_feedback")),
        schema="triage",
    )


def downgrade() -> None:
    op.drop_table("incident_feedback", schema="triage")
    op.drop_table("incidents", schema="triage")
    op.drop_index("ix_incident_members_incident", table_name="incident_members", schema="triage")
    op.drop_index("ix_incident_members_filed", table_name="incident_members", schema="triage")
    op.drop_table("incident_members", schema="triage")
