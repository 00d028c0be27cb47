"""Request and response bodies of the tickets API (API.md, Tickets)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from shared.text import Storable

TicketStatus = Literal["open", "in_progress", "resolved", "closed"]
Priority = Literal["low", "medium", "high"]
TriageState = Literal["pending", "done", "failed", "waiting"]


_NoNul = Storable  # no NUL, no lone surrogates: what Postgres text can hold
# A title becomes a mail subject: line breaks could start new headers, and bidi controls
# (U+202E and friends) can make "exe.pdf" read as "fdp.exe"; refused rather than cleaned
_NOT_IN_TITLES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _one_line(value: str) -> str:
    if _NOT_IN_TITLES.search(value):
        raise ValueError("must be one line, without control or text-direction characters")
    return value


Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), _NoNul, AfterValidator(_one_line)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), _NoNul]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _NoNul]
CommentBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), _NoNul]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NoNul]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketCreate(_Input):
    title: Title
    description: Description


class TicketUpdate(_Input):
    """Only the fields sent are changed; none of them may be null."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    category: Category | None = None
    assigned_to: uuid.UUID | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> TicketUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def sent(self) -> dict[str, object]:
        """The fields the caller sent, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TicketFilters(BaseModel):
    """Query parameters of GET /api/tickets."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    category: Category | None = None
    assigned_to: Literal["me"] | uuid.UUID | None = None
    # tickets waiting for a free slot of this moderator (`me`: the caller)
    waiting_for: Literal["me"] | uuid.UUID | None = None
    overdue: bool | None = None
    q: SearchText | None = None
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class PageQuery(BaseModel):
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class CommentCreate(_Input):
    body: CommentBody
    internal: bool = False


class PersonRead(BaseModel):
    id: uuid.UUID
    name: str
    email: str


class TriageRead(BaseModel):
    state: TriageState


class TriageStaffRead(TriageRead):
    summary: str | None
    provider: str | None
    model: str | None
    confidence: float | None
    assignment_reason: str | None
    triaged_at: datetime | None
    # state "waiting": the moderators (user ids) whose first free slot takes it; empty otherwise
    waiting_for: list[uuid.UUID] = []


class TicketRead(BaseModel):
    """A ticket as its requester sees it."""

    id: uuid.UUID
    title: str
    description: str
    status: TicketStatus
    priority: Priority | None
    category: str | None
    created_by: PersonRead
    assigned_to: PersonRead | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    triage: TriageRead


class TicketStaffRead(TicketRead):
    """A ticket as the assigned moderator, admins and the moderators it waits for see it."""

    related_skills: list[str]
    helpful_notes: str | None
    triage: TriageStaffRead


class TicketPage(BaseModel):
    items: list[TicketStaffRead | TicketRead]
    next_cursor: str | None


class CommentRead(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    author: PersonRead
    body: str
    internal: bool
    created_at: datetime


class CommentPage(BaseModel):
    items: list[CommentRead]
    next_cursor: str | None


class AttachmentRead(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    comment_id: uuid.UUID | None
    created_at: datetime


class AttachmentList(BaseModel):
    items: list[AttachmentRead]


InboundOutcome = Literal["ticket", "comment", "ignored", "refused", "failed"]


class InboundMailFilters(BaseModel):
    outcome: InboundOutcome | None = None
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class InboundMailRead(BaseModel):
    """A received mail and what became of it (the raw message at .../raw)."""

    id: uuid.UUID
    message_id: str
    sender: str | None
    subject: str | None
    outcome: InboundOutcome
    reason: str | None
    ticket_id: uuid.UUID | None
    size: int
    received_at: datetime


class InboundMailPage(BaseModel):
    items: list[InboundMailRead]
    next_cursor: str | None
