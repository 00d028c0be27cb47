"""Settings of the mail-in process (tickets.mailin): the tickets database plus the listener's knobs.

Apart from tickets/settings.py so that the tickets HTTP process is not said to read them.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from shared.mailthread import DEV_REPLY_SECRET

from tickets.settings import TicketsSettings


class MailInSettings(TicketsSettings):
    """The mail-in process: the tickets database plus the inbound listener's knobs."""

    service_name: str = "mail-in"

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
