"""auth schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 04:56:48.566715
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_login_throttle")),
        schema="auth",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("routing_key", sa.String(length=100), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="auth",
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["available_at"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), server_default=sa.text("'user'"), nullable=False),
        sa.Column(
            "skills", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('user', 'moderator', 'admin')", name=op.f("ck_users_role_known")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        schema="auth",
    )
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"], unique=False, schema="auth")
    op.create_index("ix_users_role_active", "users", ["role", "active"], unique=False, schema="auth")
    op.create_index(
        "ix_users_tokens_valid_after",
        "users",
        ["tokens_valid_after"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("tokens_valid_after IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_users_tokens_valid_after",
        table_name="users",
        schema="auth",
        postgresql_where=sa.text("tokens_valid_after IS NOT NULL"),
    )
    op.drop_index("ix_users_role_active", table_name="users", schema="auth")
    op.drop_index("ix_users_created_at_id", table_name="users", schema="auth")
    op.drop_table("users", schema="auth")
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", schema="auth", postgresql_where=sa.text("published_at IS NULL")
    )
    op.drop_table("outbox", schema="auth")
    op.drop_table("login_throttle", schema="auth")
