"""The versioned event envelope and every event the services exchange, defined once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

EXCHANGE = "helpdesk.events"
DEAD_LETTER_EXCHANGE = "helpdesk.dlx"

# queue name -> routing keys it binds. Every service declares the whole topology at start,
# so an event published before its consumer ever ran is queued, never unroutable.
TOPOLOGY: dict[str, tuple[str, ...]] = {
    # tickets also learns people (names, emails) so an admin can assign anyone staff
    "tickets": ("ticket.triaged", "ticket.triage_failed", "user.registered", "user.updated"),
    "triage": (
        "ticket.created",
        "ticket.updated",
        "ticket.retriage_requested",
        "user.registered",
        "user.updated",
        # what staff did to the incidents triage proposed (a detach is a "not the same" example)
        "incident.updated",
    ),
    "notifier": (
        "ticket.updated",
        "ticket.triage_failed",
        "ticket.commented",
        "user.registered",
        "user.updated",
        "incident.updated",
    ),
}


# routing key -> the one service that may publish it. The broker enforces it (topic permissions
# of each service's user, deploy/rabbitmq) and every consumer checks the validated `user_id`
# property against it (shared.bus), so a leaked broker password cannot forge another's events.
PUBLISHERS: dict[str, str] = {
    "user.registered": "auth",
    "user.updated": "auth",
    "ticket.created": "tickets",
    "ticket.updated": "tickets",
    "ticket.retriage_requested": "tickets",
    "ticket.commented": "tickets",
    "incident.updated": "tickets",
    "ticket.triaged": "triage",
    "ticket.triage_failed": "triage",
}


def published_by(service: str) -> tuple[str, ...]:
    """The routing keys `service` may publish (none for a service that only consumes)."""
    return tuple(key for key, owner in PUBLISHERS.items() if owner == service)


# The vocabulary: each word list is written once, here, as a Literal type. Code that needs the
# values (CHECK constraints, SQL, loops) derives them with get_args: ROLES, TICKET_STATUSES...
StaffRole = Literal["moderator", "admin"]
Role = Literal["user", StaffRole]
OpenStatus = Literal["open", "in_progress"]  # someone still has to work the ticket
DoneStatus = Literal["resolved", "closed"]
TicketStatus = Literal[OpenStatus, DoneStatus]
Priority = Literal["low", "medium", "high"]  # lowest first: the order is the ranking
TriageState = Literal["pending", "done", "failed", "waiting"]

ROLES: tuple[Role, ...] = get_args(Role)
STAFF_ROLES: tuple[StaffRole, ...] = get_args(StaffRole)
OPEN_STATUSES: tuple[OpenStatus, ...] = get_args(OpenStatus)
DONE_STATUSES: tuple[DoneStatus, ...] = get_args(DoneStatus)
TICKET_STATUSES: tuple[TicketStatus, ...] = get_args(TicketStatus)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
TRIAGE_STATES: tuple[TriageState, ...] = get_args(TriageState)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventData(_Frozen):
    """Base of every event payload; `event_type` is its routing key."""

    event_type: ClassVar[str]


class Envelope(_Frozen):
    """What travels on the bus: `{"id", "type", "version", "occurred_at", "correlation_id", "data"}`,
    and `traceparent` (W3C) when the event was written inside a traced span (shared.tracing)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    @field_validator("traceparent", mode="before")
    @classmethod
    def _lenient_traceparent(cls, value: object) -> str | None:
        # a bad trace context loses the trace, never the event
        return value if isinstance(value, str) and len(value) <= 256 else None

    @classmethod
    def wrap(cls, data: EventData, *, correlation_id: str | None = None, traceparent: str | None = None) -> Envelope:
        """Put an event payload into a new envelope with a fresh id."""
        return cls(
            type=data.event_type,
            correlation_id=correlation_id,
            traceparent=traceparent,
            data=data.model_dump(mode="json"),
        )

    def payload(self) -> EventData:
        """The typed payload; raises `UnknownEvent` or pydantic's `ValidationError`."""
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise UnknownEventError(self.type)
        return model.model_validate(self.data)


class UnknownEventError(ValueError):
    """An envelope whose type no model describes."""


# --- users (published by auth) -------------------------------------------------------------


class UserRef(_Frozen):
    id: uuid.UUID
    name: str
    email: str


class UserRegistered(EventData):
    event_type: ClassVar[str] = "user.registered"
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    skills: list[str] = []
    created_at: datetime
    # an account made for a mail's sender has no password: the welcome mail links to setting one
    password_setup_token: str | None = None
    # whether the owner proved the mailbox; only verified accounts are mailed (but the link below)
    email_verified: bool = False
    # a signed link token (its own audience) for the verification mail of an unverified signup
    verification_token: str | None = None


class UserUpdated(EventData):
    event_type: ClassVar[str] = "user.updated"
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    skills: list[str] = []
    active: bool = True
    # tokens issued before this instant no longer carry the user's rights
    tokens_valid_after: datetime | None = None
    changed: list[str] = []
    # per-user version: consumers ignore an update older than the one they applied
    revision: int = 0
    # None from a producer that predates verification: keep what you know
    email_verified: bool | None = None
    # set when the owner asked for the verification mail again (changed == ["verification_requested"])
    verification_token: str | None = None


# --- tickets (published by tickets) --------------------------------------------------------


class TicketSnapshot(_Frozen):
    """The ticket as it is after the change an event reports."""

    id: uuid.UUID
    title: str
    description: str
    status: TicketStatus
    priority: Priority | None = None
    category: str | None = None
    related_skills: list[str] = []
    helpful_notes: str | None = None
    created_by: UserRef
    assigned_to: UserRef | None = None
    due_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    triage_state: TriageState = "pending"
    triage_attempt: int = 1
    assignment_reason: str | None = None
    # the incident (a burst of similar tickets) the ticket is part of; None from older producers
    incident_id: uuid.UUID | None = None


class Actor(_Frozen):
    """Who made a change: a user (with the role they acted in) or the system."""

    kind: Literal["user", "system"]
    id: uuid.UUID | None = None
    role: Role | None = None
    name: str | None = None


class FieldChange(_Frozen):
    old: Any = None
    new: Any = None


class TicketCreated(EventData):
    event_type: ClassVar[str] = "ticket.created"
    ticket: TicketSnapshot
    version: int = 1


class TicketUpdated(EventData):
    event_type: ClassVar[str] = "ticket.updated"
    ticket: TicketSnapshot
    version: int
    actor: Actor
    changes: dict[str, FieldChange]
    # a public comment written with this change (an incident resolved with one comment for all its
    # tickets): the requester's mail about the change carries it, so they get one mail, not two
    public_comment: str | None = None


class TicketRetriageRequested(EventData):
    event_type: ClassVar[str] = "ticket.retriage_requested"
    ticket: TicketSnapshot
    version: int
    attempt: int
    requested_by: uuid.UUID | None = None


class TicketCommented(EventData):
    """A public comment (internal notes are never published): the other side gets a mail."""

    event_type: ClassVar[str] = "ticket.commented"
    ticket: TicketSnapshot
    comment_id: uuid.UUID
    author: Actor
    body: str
    via: Literal["web", "email"] = "web"


# --- triage (published by triage) ----------------------------------------------------------


class Assignee(_Frozen):
    id: uuid.UUID
    name: str
    email: str
    role: Role


class IncidentProposal(_Frozen):
    """Triage's proposal that a ticket is part of an incident (a burst of similar open tickets).

    `incident_id` is derived from the burst's first ticket (`anchor_ticket_id`), so a redelivery or
    a replay proposes the same id; `opened` when this ticket's match started it. `owner` works the
    incident (the anchor's assignee, by the normal rules): a member takes no slot of its own.
    """

    incident_id: uuid.UUID
    opened: bool = False
    anchor_ticket_id: uuid.UUID
    matched_ticket_id: uuid.UUID
    similarity: float = Field(ge=0.0, le=1.0)
    reason: str
    owner: Assignee | None = None


class TicketTriaged(EventData):
    event_type: ClassVar[str] = "ticket.triaged"
    ticket_id: uuid.UUID
    attempt: int
    category: str
    priority: Priority
    related_skills: list[str] = []
    summary: str = ""
    helpful_notes: str = ""
    confidence: float = Field(ge=0.0, le=1.0)
    provider: str
    model: str
    # None: every moderator who fits is at capacity and the ticket waits for a free slot; a later
    # ticket.triaged of the same attempt names the assignee once one frees
    assignee: Assignee | None = None
    assignment_reason: str
    decision_id: uuid.UUID | None = None
    triaged_at: datetime = Field(default_factory=utcnow)
    # without an assignee: the moderators (user ids) who fit and whose first free slot takes it;
    # empty otherwise, and from publishers that predate it (consumers then show it to admins only)
    waiting_for: list[uuid.UUID] = []
    # set when the ticket is part of an incident: then `assignee` is None and nobody waits for it
    incident: IncidentProposal | None = None


class TicketTriageFailed(EventData):
    event_type: ClassVar[str] = "ticket.triage_failed"
    ticket_id: uuid.UUID
    attempt: int
    reason: str
    # the admin who owns the ticket now; None only when no admin exists at all
    fallback_assignee: Assignee | None = None
    title: str | None = None
    failed_at: datetime = Field(default_factory=utcnow)


# --- incidents (published by tickets) -------------------------------------------------------

IncidentStatus = Literal["open", "resolved", "merged"]
IncidentChange = Literal["opened", "joined", "detached", "merged", "resolved", "updated"]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = get_args(IncidentStatus)


class IncidentSnapshot(_Frozen):
    """The incident as it is after the change an event reports (no requester's text or data)."""

    id: uuid.UUID
    title: str
    status: IncidentStatus
    category: str | None = None
    priority: Priority | None = None
    owner: UserRef | None = None
    size: int
    merged_into: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime


class IncidentUpdated(EventData):
    """An incident opened or changed: members joined or detached, merged, resolved, edited."""

    event_type: ClassVar[str] = "incident.updated"
    incident: IncidentSnapshot
    change: IncidentChange
    # per-incident version: consumers ignore an event older than the one they applied
    version: int
    previous_size: int = 0
    # the tickets the change is about (joined, detached, moved by a merge)
    ticket_ids: list[uuid.UUID] = []
    # merged: the other incident (the target for the source, the source for the target)
    other_incident_id: uuid.UUID | None = None
    actor: Actor
    # the owner was set by this change (opened with one, or given a new one): they are mailed
    new_owner: bool = False


EVENT_TYPES: dict[str, type[EventData]] = {
    model.event_type: model
    for model in (
        UserRegistered,
        UserUpdated,
        TicketCreated,
        TicketUpdated,
        TicketRetriageRequested,
        TicketCommented,
        TicketTriaged,
        TicketTriageFailed,
        IncidentUpdated,
    )
}


def parse_envelope(body: bytes) -> Envelope:
    """Parse a message body; raises `MalformedEvent` for anything that is not a known event."""
    try:
        envelope = Envelope.model_validate_json(body)
        envelope.payload()
    except (ValidationError, UnknownEventError, ValueError) as exc:
        raise MalformedEventError(str(exc)[:500]) from exc
    return envelope


class MalformedEventError(ValueError):
    """A message that can never be processed: it goes straight to the dead-letter queue."""
