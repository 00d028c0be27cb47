"""incidents: tickets.incidents, tickets.incident_log and tickets.tickets.incident_id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("public_title", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.String(length=8), nullable=True),
        sa.Column("pinned", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("owner_name", sa.Text(), nullable=True),
        sa.Column("owner_email", sa.Text(), nullable=True),
        sa.Column("anchor_ticket_id", sa.UUID(), nullable=False),
        sa.Column("size", sa.Integer(), server_default="0", nullable=False),
        sa.Column("merged_into", sa.UUID(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved', 'merged')", name=op.f("ck_incidents_status")),
        sa.CheckConstraint(
            "priority IS NULL OR priority IN ('low', 'medium', 'high')", name=op.f("ck_incidents_priority")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        schema="tickets",
    )
    op.create_index(
        "ix_incidents_newest",
        "incidents",
        ["status", sa.text("created_at DESC"), sa.text("id DESC")],
        schema="tickets",
    )
    op.create_index("ix_incidents_owner", "incidents", ["owner_id", "status"], schema="tickets")
    op.create_table(
        "incident_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("other_incident_id", sa.UUID(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["tickets.incidents.id"],
            name=op.f("fk_incident_log_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_log")),
        schema="tickets",
    )
    op.create_index("ix_incident_log_incident", "incident_log", ["incident_id", "created_at", "id"], schema="tickets")
    op.add_column("tickets", sa.Column("incident_id", sa.UUID(), nullable=True), schema="tickets")
    op.create_index(
        "ix_tickets_incident",
        "tickets",
        ["incident_id", "created_at"],
        schema="tickets",
        postgresql_where=sa.text("incident_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_incident", table_name="tickets", schema="tickets")
    op.drop_column("tickets", "incident_id", schema="tickets")
    op.drop_index("ix_incident_log_incident", table_name="incident_log", schema="tickets")
    op.drop_table("incident_log", schema="tickets")
    op.drop_index("ix_incidents_owner", table_name="incidents", schema="tickets")
    op.drop_index("ix_incidents_newest", table_name="incidents", schema="tickets")
    op.drop_table("incidents", schema="tickets")
