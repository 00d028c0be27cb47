"""Tables of the `triage` schema: staff directory, ticket copies, decisions, examples, models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.db import service_metadata
from shared.deadletters import dead_letters_table
from shared.inbox import processed_messages_table
from shared.outbox import outbox_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "triage"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)
processed_messages = processed_messages_table(Base.metadata)
dead_letters = dead_letters_table(Base.metadata)


class Staff(Base):
    """A moderator or admin as learned from user events, with the open workload triage counts."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("open_count >= 0", name="open_count_non_negative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    skills: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # None: the service-wide TRIAGE_MODERATOR_CAPACITY applies
    capacity: Mapped[int | None] = mapped_column(Integer)
    open_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    revision: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TicketCopy(Base):
    """What triage knows of a ticket: its text, who it counts against, and the triage attempts."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_waiting", "waiting_since", postgresql_where=text("state = 'waiting'")),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    related_skills: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # the staff member whose open_count includes this ticket (None: counted against nobody)
    counted_for: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    triaged_attempt: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    # state "waiting": the moderators (user ids as strings) who fit, all full when it was triaged;
    # the first of them to free a slot takes it
    waiting_for: Mapped[list[str] | None] = mapped_column(JSONB)
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Decision(Base):
    """One triage decision: what the analyzer said, who got the ticket, and why."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # triaged | waiting | failed
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[int | None] = mapped_column(Integer)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    related_skills: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    summary: Mapped[str | None] = mapped_column(Text)
    helpful_notes: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    assignment_reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


class Solved(Base):
    """Who handled what: a routing example from the ticket's life (learned by `assignment.plan`).

    kind: resolved (the assignee resolved it), reopened (it came back), taken (staff assigned it
    to them by hand), handed_off (staff took it away from them).
    """

    __tablename__ = "solved"
    __table_args__ = (Index("ix_solved_category_at", "category", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    category: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Category(Base):
    """A category triage may choose; the configured set replaces the defaults."""

    __tablename__ = "categories"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), server_default=text("''"))
    position: Mapped[int] = mapped_column(Integer)


class Example(Base):
    """A labelled ticket the local analyzer learns from: an import or a human correction."""

    __tablename__ = "examples"
    __table_args__ = (
        # one correction per ticket: the latest human judgement wins
        Index(
            "uq_examples_correction_ticket",
            "ticket_id",
            unique=True,
            postgresql_where=text("source = 'correction'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    skills: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    source: Mapped[str] = mapped_column(String(16))  # import | correction
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ModelVersion(Base):
    """A trained local model, stored whole so every worker (and a restarted one) loads it."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    examples: Mapped[int] = mapped_column(Integer)
    # a fingerprint of the stored examples it saw (count and last change), to know when to retrain
    examples_mark: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    categories: Mapped[list[str]] = mapped_column(JSONB)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncidentMember(Base):
    """A triaged ticket as incident detection sees it: when it was filed, the incident it is in."""

    __tablename__ = "incident_members"
    __table_args__ = (
        Index("ix_incident_members_filed", "filed_at"),
        Index("ix_incident_members_incident", "incident_id", postgresql_where=text("incident_id IS NOT NULL")),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    similarity: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)


class Incident(Base):
    """An incident triage proposed (the tickets service owns the real one): its owner and state."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    anchor_ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))  # open | closed
    # the last incident.updated version applied
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncidentFeedback(Base):
    """A labelled example from staff: this ticket is "not the same" problem as this incident."""

    __tablename__ = "incident_feedback"

    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    label: Mapped[str] = mapped_column(String(16), server_default=text("'not_same'"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
