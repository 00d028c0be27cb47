"""Request and response bodies of the tickets API (API.md, Tickets)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from shared.events import Priority, TicketStatus, TriageState
from shared.text import Storable

if TYPE_CHECKING:
    from tickets.models import Comment, Ticket


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


class Patch(_Input):
    """A PATCH body: only the fields sent change, and none of them may be sent as null."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def sent(self) -> dict[str, object]:
        """The fields the caller sent, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TicketUpdate(Patch):
    """Only the fields sent are changed; none of them may be null."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    category: Category | None = None
    assigned_to: uuid.UUID | None = None


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

    @classmethod
    def of(cls, person_id: uuid.UUID | None, name: str | None, email: str | None) -> PersonRead | None:
        """A denormalised person of a row (id, name, email columns); None without an id."""
        if person_id is None:
            return None
        return cls(id=person_id, name=name or "", email=email or "")


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

    @staticmethod
    def _common(ticket: Ticket) -> dict[str, Any]:
        return {
            "id": ticket.id,
            "title": ticket.title,
            "description": ticket.description,
            "status": ticket.status,
            "priority": ticket.priority,
            "category": ticket.category,
            "created_by": PersonRead.of(ticket.created_by_id, ticket.created_by_name, ticket.created_by_email),
            "assigned_to": PersonRead.of(ticket.assigned_to_id, ticket.assigned_to_name, ticket.assigned_to_email),
            "due_at": ticket.due_at,
            "created_at": ticket.created_at,
            "updated_at": ticket.updated_at,
        }

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> Self:
        """The requester's view: no triage internals."""
        return cls(**cls._common(ticket), triage=TriageRead(state=ticket.triage_state))


class TicketStaffRead(TicketRead):
    """A ticket as the assigned moderator, admins and the moderators it waits for see it."""

    related_skills: list[str]
    helpful_notes: str | None
    triage: TriageStaffRead

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> Self:
        """The staff view: with triage's summary, skills, notes and whom it waits for."""
        return cls(
            **cls._common(ticket),
            related_skills=list(ticket.related_skills or []),
            helpful_notes=ticket.helpful_notes,
            triage=TriageStaffRead(
                state=ticket.triage_state,
                summary=ticket.triage_summary,
                provider=ticket.triage_provider,
                model=ticket.triage_model,
                confidence=ticket.triage_confidence,
                assignment_reason=ticket.assignment_reason,
                triaged_at=ticket.triaged_at,
                waiting_for=list(ticket.waiting_for or []),
            ),
        )


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

    @classmethod
    def from_comment(cls, comment: Comment) -> Self:
        return cls(
            id=comment.id,
            ticket_id=comment.ticket_id,
            author=PersonRead(id=comment.author_id, name=comment.author_name, email=comment.author_email),
            body=comment.body,
            internal=comment.internal,
            created_at=comment.created_at,
        )


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


# --- statistics (GET /api/stats) -------------------------------------------------------------

MAX_STATS_DAYS = 366
DEFAULT_STATS_DAYS = 30


class StatsQuery(BaseModel):
    """Query parameters of GET /api/stats: a range of UTC days, both ends included."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | None = Field(None, alias="from", description="First UTC day (default: 29 days before `to`).")
    end: date | None = Field(None, alias="to", description="Last UTC day, included (default: today).")

    @model_validator(mode="after")
    def _a_range(self) -> StatsQuery:
        if self.start is not None and self.end is not None:
            if self.start > self.end:
                raise ValueError("`from` must not be after `to`")
            if (self.end - self.start).days + 1 > MAX_STATS_DAYS:
                raise ValueError(f"the range may span at most {MAX_STATS_DAYS} days")
        return self

    def days(self, today: date) -> tuple[date, date]:
        """The first and last day asked for, with the defaults filled in."""
        if self.end is not None:
            end = self.end
        elif self.start is not None:
            end = max(self.start, min(today, self.start + timedelta(days=DEFAULT_STATS_DAYS - 1)))
        else:
            end = today
        start = self.start or end - timedelta(days=DEFAULT_STATS_DAYS - 1)
        return start, end


class DayCount(BaseModel):
    day: date
    count: int


class CategoryCount(BaseModel):
    category: str | None = Field(description="null: not triaged yet")
    count: int


class Durations(BaseModel):
    """Percentiles (interpolated, in seconds) over `count` tickets; null when there are none."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None


class OverdueRead(BaseModel):
    total: int
    by_priority: dict[str, int] = Field(description="high, medium, low and none (no priority yet)")


class ModeratorLoad(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    open: int
    in_progress: int
    overdue: int


class TriageQueue(BaseModel):
    pending: int
    waiting: int = Field(description="triaged, waiting for a moderator with capacity")
    failed: int
    oldest_waiting_at: datetime | None


class DeadLetterCount(BaseModel):
    """Open dead letters of the tickets service's own queue; triage's and notifier's are at
    /api/dead-letters/{service}."""

    open: int


class StatsRead(BaseModel):
    """Figures over every ticket (admins) or over the tickets assigned to the caller (moderators).

    `created`, `per_day`, `by_*` and the durations cover the tickets created in the range;
    `open`, `overdue`, `load` and `triage` are the state now, whatever the range.
    """

    scope: Literal["all", "assigned_to_me"]
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    generated_at: datetime
    created: int
    per_day: list[DayCount]
    by_status: dict[str, int]
    by_priority: dict[str, int] = Field(description="high, medium, low and none (no priority yet)")
    by_category: list[CategoryCount] = Field(description="largest first")
    time_to_triage: Durations = Field(description="triaged_at - created_at of triaged tickets")
    time_to_resolve: Durations = Field(description="resolved_at - created_at of resolved and closed tickets")
    open: dict[str, int] = Field(description="open and in_progress tickets now")
    overdue: OverdueRead
    load: list[ModeratorLoad] = Field(description="open work per assignee now, most loaded first")
    triage: TriageQueue
    dead_letters: DeadLetterCount | None = Field(description="admins only")
