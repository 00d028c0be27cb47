"""Tables of the notifier schema: users it knows of, preferences, deliveries, processed events."""

from __future__ import annotations

import enum

from shared.db import service_metadata, sql_in
from shared.deadletters import dead_letters_table
from shared.events import ROLES
from shared.inbox import processed_messages_table
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "notifier"
metadata = service_metadata(SCHEMA)


class DeliveryStatus(enum.StrEnum):
    """Where a mail stands: waiting to go out, handed to the SMTP server, or given up on."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


processed_messages = processed_messages_table(metadata)
dead_letters = dead_letters_table(metadata)

# The names, emails and roles learnt from user.registered / user.updated (never read from
# the auth schema). `revision` lets an old user.updated lose against a newer one.
users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # whether the owner proved the mailbox: an unverified account is mailed nothing but its link
    Column("email_verified", Boolean, nullable=False, server_default=text("false")),
    # made by mail-in from a mail this address sent: answers about its tickets go back to it
    # (as from every helpdesk's mail channel) while nothing else does until it is verified
    Column("opened_by_mail", Boolean, nullable=False, server_default=text("false")),
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(sql_in("role", ROLES), name="role"),
    Index("ix_users_admins", "role", postgresql_where=text("role = 'admin' AND active")),
)

# The newest ticket.updated version seen per ticket: an older event that arrives late (a
# redelivery after a newer one) mails nobody, so nobody is told of an assignment since undone.
ticket_versions = Table(
    "ticket_versions",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per user who changed a default; no row means every kind of mail is on.
preferences = Table(
    "preferences",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_assigned", Boolean, nullable=False, server_default=text("true")),
    Column("ticket_resolved", Boolean, nullable=False, server_default=text("true")),
    Column("triage_failed", Boolean, nullable=False, server_default=text("true")),
    Column("welcome", Boolean, nullable=False, server_default=text("true")),
    Column("ticket_commented", Boolean, nullable=False, server_default=text("true")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Every mail the notifier decided to send, rendered at decision time. The row is written in
# the transaction that marks the event processed; the unique key is the "at most once per
# (event, recipient, template)" guarantee.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient_id", UUID(as_uuid=True), nullable=True),
    Column("recipient_email", String(320), nullable=False),
    Column("recipient_name", String(200), nullable=False, server_default=""),
    Column("ticket_id", UUID(as_uuid=True), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("subject", String(300), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default=DeliveryStatus.PENDING.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=True),
    Column("last_error_code", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # when the current round of attempts began (reset when an admin requeues a failed mail);
    # a temporary failure older than MAIL_GIVE_UP_AFTER from here becomes a failure
    Column("queued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("failed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_id", "recipient_email", "kind", name="uq_deliveries_once"),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_deliveries_failed",
        "failed_at",
        "id",
        postgresql_where=text("status = 'failed'"),
    ),
)
