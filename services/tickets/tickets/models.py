"""Tables of the tickets schema: tickets, comments, their history, people, outbox, inbox."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from shared.db import service_metadata, sql_in
from shared.deadletters import dead_letters_table
from shared.events import (
    INCIDENT_STATUSES,
    OPEN_STATUSES,
    PRIORITIES,
    ROLES,
    TICKET_STATUSES,
    TRIAGE_STATES,
)
from shared.inbox import processed_messages_table
from shared.outbox import outbox_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

SCHEMA = "tickets"


def _bucket(end: str) -> str:
    """A duration's histogram bucket (migration 0010; tickets/rollups.py writes the same)."""
    return f"(floor(ln(1 + greatest(extract(epoch FROM {end} - created_at)::float8, 0)) * 12)::integer)"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


metadata = Base.metadata
outbox = outbox_table(metadata)
processed_messages = processed_messages_table(metadata)
dead_letters = dead_letters_table(metadata)


class Person(Base):
    """Someone the service has met (a caller's token, a triage assignee): who assignees can be."""

    __tablename__ = "people"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    email: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    # the last user.updated revision applied (0: learned from tokens or triage only)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))

    __table_args__ = (CheckConstraint(sql_in("role", ROLES), name="role"),)


class Ticket(Base):
    """A ticket. A new one is made with `Ticket.new`: the model's defaults are its initial values."""

    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open", server_default="open")
    priority: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(64))
    related_skills: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, default=list, server_default=text("'{}'::text[]")
    )
    helpful_notes: Mapped[str | None] = mapped_column(Text)
    # people are denormalised: the ticket reads without a join and outlives renames
    created_by_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_by_name: Mapped[str] = mapped_column(Text, nullable=False)
    created_by_email: Mapped[str] = mapped_column(Text, nullable=False)
    assigned_to_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    assigned_to_name: Mapped[str | None] = mapped_column(Text)
    assigned_to_email: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # bumped on every change; events carry it so consumers can drop stale ones
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    triage_state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", server_default="pending")
    # triage_state "waiting": the moderators who fit, all at capacity (they see it in their queue);
    # NULL in every other state
    waiting_for: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    # the attempt whose result we wait for, and the last one whose result we applied
    triage_attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    triage_applied_attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    triage_summary: Mapped[str | None] = mapped_column(Text)
    triage_provider: Mapped[str | None] = mapped_column(Text)
    triage_model: Mapped[str | None] = mapped_column(Text)
    triage_confidence: Mapped[float | None] = mapped_column(Float)
    assignment_reason: Mapped[str | None] = mapped_column(Text)
    triaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the last move from open/in progress to resolved/closed; cleared when reopened (time to resolve)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the creator's Idempotency-Key and a hash of what they sent: a retried POST finds its ticket
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # the incident (a burst of similar tickets) it is part of: its owner works it, not this row's assignee
    incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    search: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('simple'::regconfig, title || ' ' || description)", persisted=True),
        deferred=True,
    )

    __table_args__ = (
        CheckConstraint(sql_in("status", TICKET_STATUSES), name="status"),
        CheckConstraint(f"priority IS NULL OR {sql_in('priority', PRIORITIES)}", name="priority"),
        CheckConstraint(sql_in("triage_state", TRIAGE_STATES), name="triage_state"),
        # keyset pagination, newest first, for every way of narrowing the list
        Index("ix_tickets_newest", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_created_by", "created_by_id", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_assigned_to", "assigned_to_id", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_status", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_priority", "priority", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_category", "category", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_tickets_overdue",
            "due_at",
            postgresql_where=text(f"{sql_in('status', OPEN_STATUSES)} AND due_at IS NOT NULL"),
        ),
        Index("ix_tickets_search", "search", postgresql_using="gin"),
        # GET /api/stats: index-only scans over a date range, over the open work, over triage's queue
        Index(
            "ix_tickets_stats",
            "created_at",
            postgresql_include=["status", "priority", "category", "triaged_at", "resolved_at"],
        ),
        Index(
            "ix_tickets_open_work",
            "assigned_to_id",
            "status",
            "priority",
            "due_at",
            postgresql_where=text(sql_in("status", OPEN_STATUSES)),
        ),
        Index(
            "ix_tickets_triage_unfinished",
            "triage_state",
            "created_at",
            postgresql_where=text("triage_state <> 'done'"),
        ),
        Index(
            "ix_tickets_assignee_stats",
            "assigned_to_id",
            "created_at",
            postgresql_include=["status", "priority", "category", "triaged_at", "resolved_at"],
        ),
        # the exact p50/p90 of GET /api/stats: one histogram bucket's tickets (tickets/rollups.py)
        Index(
            "ix_tickets_triage_time",
            text(_bucket("triaged_at")),
            "created_at",
            postgresql_include=["triaged_at"],
            postgresql_where=text("triaged_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_resolve_time",
            text(_bucket("resolved_at")),
            "created_at",
            postgresql_include=["resolved_at", "status"],
            postgresql_where=text("resolved_at IS NOT NULL AND status IN ('resolved', 'closed')"),
        ),
        Index(
            "ix_tickets_waiting_for",
            "waiting_for",
            postgresql_using="gin",
            postgresql_where=text("waiting_for IS NOT NULL"),
        ),
        Index("ix_tickets_incident", "incident_id", "created_at", postgresql_where=text("incident_id IS NOT NULL")),
        Index(
            "uq_tickets_idempotency",
            "created_by_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    @classmethod
    def new(cls, **values: Any) -> Ticket:
        """A ticket not yet stored, every column the caller leaves out at the model's default."""
        for key, default, call in _defaults(cls):
            if key not in values:
                values[key] = default(None) if call else default
        return cls(**values)

    def stored_values(self) -> dict[str, Any]:
        """Column -> value of every stored (not generated) column: what an INSERT of this ticket
        writes (`repository.insert_ticket`), so a NOT NULL column needs a `default=` for `new`."""
        keys = _stored_keys(type(self))
        # what `new` set is in the instance's dict; getattr (the ORM's descriptor) only for the rest
        state = self.__dict__
        return {key: state[key] if key in state else getattr(self, key) for key in keys}


@functools.cache
def _defaults(model: type[Ticket]) -> tuple[tuple[str, Any, bool], ...]:
    """(key, default, whether to call it) of every column with a Python-side default, looked up once.

    SQLAlchemy wraps a callable default to take the execution context; none is needed here.
    """
    out = []
    for column in model.__table__.columns:
        default = column.default
        if isinstance(default, ScalarElementColumnDefault | CallableColumnDefault):
            out.append((column.key, default.arg, isinstance(default, CallableColumnDefault)))
    return tuple(out)


@functools.cache
def _stored_keys(model: type[Ticket]) -> tuple[str, ...]:
    """The stored (not generated) columns' keys of `model`, looked up once."""
    return tuple(c.key for c in model.__table__.columns if c.computed is None)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    author_name: Mapped[str] = mapped_column(Text, nullable=False)
    author_email: Mapped[str] = mapped_column(Text, nullable=False)
    author_role: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    internal: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_comments_ticket", "ticket_id", "created_at", "id"),
        Index("ix_comments_author_created", "author_id", "created_at"),
    )


class TicketChange(Base):
    """One row per ticket version: who changed which fields from what to what, and when."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (UniqueConstraint("ticket_id", "version", name="uq_ticket_history_version"),)


INBOUND_OUTCOMES = ("ticket", "comment", "ignored", "refused", "failed")


class InboundMail(Base):
    """Every mail the support address received, once per Message-ID, with what became of it.

    Kept whatever the outcome: a mail that could not be parsed stays here (raw) for admins.
    """

    __tablename__ = "inbound_mail"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    message_id: Mapped[str] = mapped_column(Text, nullable=False)
    sender: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        CheckConstraint(sql_in("outcome", INBOUND_OUTCOMES), name="outcome"),
        UniqueConstraint("message_id", name="uq_inbound_mail_message_id"),
        Index("ix_inbound_mail_received", text("received_at DESC"), text("id DESC")),
        Index("ix_inbound_mail_sender", "sender", "received_at"),
    )


class Attachment(Base):
    """A file that came with a mail, stored with the ticket (size-limited at intake)."""

    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    comment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    content_type: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_attachments_ticket", "ticket_id", "created_at"),)


class Incident(Base):
    """A burst of similar tickets worked as one problem by one owner (proposed by triage)."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # staff-facing: taken from the first ticket (another requester's words: never shown to requesters)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    # what requesters see, once staff write it ("Known problem" until then)
    public_title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    category: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(8))
    # set by staff (PATCH): the automatic category/priority no longer overwrite it
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner_name: Mapped[str | None] = mapped_column(Text)
    owner_email: Mapped[str | None] = mapped_column(Text)
    anchor_ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(sql_in("status", INCIDENT_STATUSES), name="status"),
        CheckConstraint(f"priority IS NULL OR {sql_in('priority', PRIORITIES)}", name="priority"),
        Index("ix_incidents_newest", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_incidents_owner", "owner_id", "status"),
    )


class IncidentEntry(Base):
    """The incident's record: who joined or left, merges, edits, resolution, public updates."""

    __tablename__ = "incident_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    # opened | joined | detached | merged | resolved | updated | public_update
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    other_incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # the size after this entry (the dashboard's "size over time")
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_name: Mapped[str | None] = mapped_column(Text)
    # why (triage's match reason, a detach's note); `body` of a public update or resolution
    detail: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_incident_log_incident", "incident_id", "created_at", "id"),)
