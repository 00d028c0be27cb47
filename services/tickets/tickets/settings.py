"""Tickets settings: database, SLA hours per priority and the per-user creation quota."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr
from shared.dbsetup import service_database_url
from shared.mailthread import DEV_REPLY_SECRET
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


class MailInSettings(TicketsSettings):
    """The mail-in process: the tickets database plus the inbound listener's knobs."""

    # inbound mail (the mail-in process; README, "Tickets by email")
    support_address: str = Field("support@localhost", validation_alias="SUPPORT_ADDRESS")
    mail_reply_secret: SecretStr = Field(SecretStr(DEV_REPLY_SECRET), validation_alias="MAIL_REPLY_SECRET")
    mail_in_host: str = Field("127.0.0.1", validation_alias="MAIL_IN_HOST")
    mail_in_port: int = Field(2525, ge=0, le=65535, validation_alias="MAIL_IN_PORT")
    mail_in_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, validation_alias="MAIL_IN_MAX_BYTES"
    )
    mail_in_attachment_max_bytes: int = Field(
        5 * 1024 * 1024, ge=0, le=50 * 1024 * 1024, validation_alias="MAIL_IN_ATTACHMENT_MAX_BYTES"
    )
    mail_in_max_attachments: int = Field(10, ge=0, le=100, validation_alias="MAIL_IN_MAX_ATTACHMENTS")
    # mails per sender per hour that may open or touch tickets (loops and floods stop here)
    mail_in_sender_rate: int = Field(20, ge=1, le=10_000, validation_alias="MAIL_IN_SENDER_RATE")
    auth_internal_url: str = Field("http://127.0.0.1:8101", validation_alias="AUTH_INTERNAL_URL")
    imap_host: str | None = Field(None, validation_alias="IMAP_HOST")
    imap_port: int = Field(993, ge=1, le=65535, validation_alias="IMAP_PORT")
    imap_tls: bool = Field(True, validation_alias="IMAP_TLS")
    imap_user: str | None = Field(None, validation_alias="IMAP_USER")
    imap_password: SecretStr | None = Field(None, validation_alias="IMAP_PASSWORD")
    imap_folder: str = Field("INBOX", validation_alias="IMAP_FOLDER")
    imap_poll_s: float = Field(60.0, ge=1, le=3600, validation_alias="IMAP_POLL_S")

    @property
    def support_domain(self) -> str:
        return self.support_address.rpartition("@")[2].lower()

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        secret = self.mail_reply_secret.get_secret_value()
        if secret == DEV_REPLY_SECRET or len(secret) < 32:
            problems.append("MAIL_REPLY_SECRET must be set to a random value of 32+ characters")
        return problems
