"""Request and response bodies of the incidents API (README, "Incidents")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from shared.events import IncidentStatus, Priority, TicketStatus

from tickets.schemas import Category, CommentBody, Patch, PersonRead, Title, _Input


class IncidentFilters(BaseModel):
    """Query parameters of GET /api/incidents."""

    status: IncidentStatus | None = "open"
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class IncidentUpdate(Patch):
    """Only the fields sent change; a category or priority set here is kept (no longer automatic)."""

    title: Title | None = None
    summary: CommentBody | None = None
    public_title: Title | None = None
    category: Category | None = None
    priority: Priority | None = None
    owner_id: uuid.UUID | None = None


class IncidentResolve(_Input):
    """The one public comment every member ticket gets (and its requester by mail)."""

    comment: CommentBody


class IncidentPublicUpdate(_Input):
    body: CommentBody


class IncidentDetach(_Input):
    ticket_id: uuid.UUID
    note: CommentBody | None = None


class IncidentMerge(_Input):
    """Move every member of `source_id` into this incident; the source ends as `merged`."""

    source_id: uuid.UUID


class SizePoint(BaseModel):
    at: datetime
    size: int


class IncidentRead(BaseModel):
    """The incident as staff see it."""

    id: uuid.UUID
    title: str
    summary: str | None
    public_title: str | None
    status: IncidentStatus
    category: str | None
    priority: Priority | None
    owner: PersonRead | None
    size: int
    merged_into: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class IncidentDetail(IncidentRead):
    """One incident with its size over time (one point per join, detach or merge)."""

    size_history: list[SizePoint]


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    next_cursor: str | None


class MemberRead(BaseModel):
    """A member ticket as the incident's staff read it (they work it without its own assignment)."""

    id: uuid.UUID
    title: str
    description: str
    status: TicketStatus
    created_by: PersonRead
    created_at: datetime
    # triage's reason for the match (what was alike)
    reason: str | None


class MemberList(BaseModel):
    items: list[MemberRead]


class LogEntryRead(BaseModel):
    kind: str
    ticket_id: uuid.UUID | None
    other_incident_id: uuid.UUID | None
    size: int
    actor_name: str | None
    detail: str | None
    body: str | None
    public: bool
    created_at: datetime


class LogList(BaseModel):
    items: list[LogEntryRead]


class PublicUpdateRead(BaseModel):
    body: str
    created_at: datetime


class KnownProblemRead(BaseModel):
    """What a requester sees of their ticket's incident: that it is known, and the public updates.

    Nothing of the other tickets (their titles, requesters or number) and nothing staff-only.
    """

    known_problem: Literal[True] = True
    title: str
    status: IncidentStatus
    updates: list[PublicUpdateRead]
