"""Tickets settings: database, SLA hours per priority and the per-user creation quota."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field
from shared.dbsetup import service_database_url
from shared.settings import ServiceSettings, database_url_problems


class TicketsSettings(ServiceSettings):
    """Environment of the tickets service (CONVENTIONS.md names; the TICKETS_* knobs are ours)."""

    service_name: str = "tickets"
    database_url: str = Field(
        default_factory=lambda: service_database_url("tickets"),
        validation_alias="TICKETS_DATABASE_URL",
    )
    sla_high_hours: float = Field(4, gt=0, le=24 * 365, validation_alias="TICKETS_SLA_HIGH_HOURS")
    sla_medium_hours: float = Field(24, gt=0, le=24 * 365, validation_alias="TICKETS_SLA_MEDIUM_HOURS")
    sla_low_hours: float = Field(72, gt=0, le=24 * 365, validation_alias="TICKETS_SLA_LOW_HOURS")
    # At most `create_quota` tickets per user in any `create_quota_window_seconds`; 0 turns it off.
    create_quota: int = Field(20, ge=0, le=100_000, validation_alias="TICKETS_CREATE_QUOTA")
    create_quota_window_seconds: int = Field(
        600, ge=1, le=86_400, validation_alias="TICKETS_CREATE_QUOTA_WINDOW_SECONDS"
    )
    # How often the statistics' delta rows are folded (tickets/rollups.py) besides at each read.
    stats_fold_seconds: float = Field(300, gt=0, le=86_400, validation_alias="TICKETS_STATS_FOLD_SECONDS")
    # At most `comment_quota` comments per user in any `comment_quota_window_seconds`; 0 turns it off.
    comment_quota: int = Field(10, ge=0, le=100_000, validation_alias="TICKETS_COMMENT_QUOTA")
    comment_quota_window_seconds: int = Field(
        60, ge=1, le=86_400, validation_alias="TICKETS_COMMENT_QUOTA_WINDOW_SECONDS"
    )

    # An incident's priority is its members' highest, one step higher (at most) from this size on; 0: never.
    incident_priority_step_size: int = Field(
        10, ge=0, le=100_000, validation_alias="TICKETS_INCIDENT_PRIORITY_STEP_SIZE"
    )

    # Events in flight together (within BUS_PREFETCH) are applied in one transaction, in batches
    # of at most this many; each message is acked after its batch committed (1 = one at a time).
    batch_size: int = Field(16, ge=1, le=256, validation_alias="TICKETS_BATCH_SIZE")

    # "inprocess": the API process publishes its outbox; "off": a `tickets-relay` process does
    # (tickets.relay), so the API keeps answering while the relay restarts
    outbox_relay: Literal["inprocess", "off"] = Field("inprocess", validation_alias="OUTBOX_RELAY")

    def sla(self, priority: str | None) -> timedelta | None:
        """How long a ticket of this priority may stay unresolved; None without a priority."""
        hours = {
            "high": self.sla_high_hours,
            "medium": self.sla_medium_hours,
            "low": self.sla_low_hours,
        }.get(priority or "")
        return None if hours is None else timedelta(hours=hours)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        problems += database_url_problems("TICKETS_DATABASE_URL", self.database_url)
        return problems
