"""Request and response bodies of the notifier's routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class Preferences(BaseModel):
    """Which kinds of mail the caller wants; every field is required on PUT, no others allowed."""

    model_config = ConfigDict(extra="forbid")

    ticket_assigned: StrictBool
    ticket_resolved: StrictBool
    triage_failed: StrictBool
    welcome: StrictBool
    # newer than the other four: optional on PUT (on unless sent as false) so older clients work
    ticket_commented: StrictBool = True


class FailureRead(BaseModel):
    """A mail the notifier gave up on (or that an admin put back in the queue)."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: uuid.UUID
    kind: str
    status: str
    recipient_email: str
    subject: str
    event_id: uuid.UUID
    event_type: str
    ticket_id: uuid.UUID | None
    attempts: int
    error: str | None = Field(validation_alias="last_error")
    error_code: int | None = Field(validation_alias="last_error_code")
    created_at: datetime
    failed_at: datetime | None


class FailureList(BaseModel):
    """A page of failed mails."""

    items: list[FailureRead]
    next_cursor: str | None
