"""Tables of the `auth` schema: users, login throttling, the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.db import service_metadata, sql_in
from shared.events import ROLES
from shared.outbox import outbox_table
from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "auth"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)


class User(Base):
    """An account. `email` is stored lower-cased; `password_hash` never leaves this service."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(sql_in("role", ROLES), name="role_known"),
        CheckConstraint("email = lower(email)", name="email_lower"),
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_role_active", "role", "active"),
        Index(
            "ix_users_tokens_valid_after",
            "tokens_valid_after",
            postgresql_where=text("tokens_valid_after IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), server_default=text("'user'"))
    skills: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # the owner proved the mailbox (the verification link, or the set-password link of an account
    # made from a mail); only then may the account be given a staff role
    email_verified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # tokens issued before this instant no longer carry the user's rights (role lowered, disabled)
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # bumped on every change; user.updated carries it so consumers can drop stale updates
    revision: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class LoginThrottle(Base):
    """Failed logins per key: an account from one address (`acct:<email>|<ip>`), or an address
    across accounts (`addr:<ip>`); past the free failures each one adds a growing delay."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    # failures are forgotten once none came for a whole window
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
