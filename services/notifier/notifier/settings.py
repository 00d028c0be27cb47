"""Notifier settings: database, SMTP provider, sender, web links and the delivery loop's pace."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from shared.dbsetup import service_database_url
from shared.mailthread import DEV_REPLY_SECRET
from shared.settings import ServiceSettings, database_url_problems

from notifier.smtp import RetryPolicy, SmtpConfig

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class NotifierSettings(ServiceSettings):
    """Environment of the notifier (CONVENTIONS.md names; the MAIL_* pace knobs are ours)."""

    service_name: str = "notifier"
    database_url: str = Field(
        default_factory=lambda: service_database_url("notifier"),
        validation_alias="NOTIFIER_DATABASE_URL",
    )

    # Any SMTP provider by configuration alone; the dev default is the local sink.
    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(1025, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_tls: bool = Field(False, validation_alias="SMTP_TLS")
    smtp_timeout: float = Field(10.0, gt=0, le=300, validation_alias="SMTP_TIMEOUT")
    smtp_validate_certs: bool = Field(True, validation_alias="SMTP_VALIDATE_CERTS")

    mail_from: str = Field("Helpdesk <helpdesk@localhost>", validation_alias="MAIL_FROM")
    web_base_url: str = Field("http://127.0.0.1:8000", validation_alias="WEB_BASE_URL")
    # replies: every mail about a ticket names this address with a signed token (shared.mailthread)
    support_address: str = Field("support@localhost", validation_alias="SUPPORT_ADDRESS")
    mail_reply_secret: SecretStr = Field(SecretStr(DEV_REPLY_SECRET), validation_alias="MAIL_REPLY_SECRET")

    # In-process retries of one send (tenacity) ...
    mail_retry_attempts: int = Field(3, ge=1, le=20, validation_alias="MAIL_RETRY_ATTEMPTS")
    mail_retry_initial_wait: float = Field(0.5, ge=0, le=60, validation_alias="MAIL_RETRY_INITIAL_WAIT")
    mail_retry_max_wait: float = Field(5.0, ge=0, le=300, validation_alias="MAIL_RETRY_MAX_WAIT")
    # ... then the mail stays pending and the loop comes back to it with a growing delay,
    # capped here, until it is older than MAIL_GIVE_UP_AFTER and is recorded as failed.
    mail_backoff_max: float = Field(60.0, gt=0, le=3600, validation_alias="MAIL_BACKOFF_MAX")
    mail_give_up_after: float = Field(86400.0, gt=0, le=30 * 86400, validation_alias="MAIL_GIVE_UP_AFTER")
    mail_poll_interval: float = Field(1.0, gt=0, le=60, validation_alias="MAIL_POLL_INTERVAL")
    mail_workers: int = Field(4, ge=1, le=64, validation_alias="MAIL_WORKERS")
    # Events in flight together are applied in one transaction, and each delivery worker sends
    # up to this many mails per transaction over its open SMTP connection (1 = one at a time).
    batch_size: int = Field(16, ge=1, le=256, validation_alias="NOTIFIER_BATCH_SIZE")
    # admins are mailed once when an incident grows to this many tickets (0: never)
    incident_admin_size: int = Field(10, ge=0, le=100_000, validation_alias="NOTIFIER_INCIDENT_ADMIN_SIZE")

    @field_validator("mail_from")
    @classmethod
    def _valid_sender(cls, value: str) -> str:
        name, addr = parseaddr(value)
        if "@" not in addr or any(c in value for c in "\r\n"):
            raise ValueError("MAIL_FROM must be an address like 'Helpdesk <help@example.org>'")
        return str(Address(display_name=name, addr_spec=addr))

    @field_validator("web_base_url")
    @classmethod
    def _valid_web_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("WEB_BASE_URL must be an http(s) URL without a query")
        return value.rstrip("/")

    @property
    def sender_domain(self) -> str:
        """The domain of MAIL_FROM (used in Message-IDs)."""
        return parseaddr(self.mail_from)[1].rpartition("@")[2] or "localhost"

    def smtp_config(self) -> SmtpConfig:
        """The SMTP connection parameters."""
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            starttls=self.smtp_starttls,
            tls=self.smtp_tls,
            timeout=self.smtp_timeout,
            validate_certs=self.smtp_validate_certs,
        )

    def retry_policy(self) -> RetryPolicy:
        """How one delivery attempt retries temporary SMTP errors."""
        return RetryPolicy(
            attempts=self.mail_retry_attempts,
            initial_wait=self.mail_retry_initial_wait,
            max_wait=self.mail_retry_max_wait,
        )

    def production_problems(self) -> list[str]:
        problems: list[str] = super().production_problems()
        problems += database_url_problems("NOTIFIER_DATABASE_URL", self.database_url)
        if self.smtp_username and not (self.smtp_tls or self.smtp_starttls):
            problems.append("SMTP credentials would travel in clear text: set SMTP_STARTTLS or SMTP_TLS")
        if self.smtp_username and not self.smtp_password:
            problems.append("SMTP_USERNAME is set without SMTP_PASSWORD")
        if urlsplit(self.web_base_url).hostname in _LOCAL_HOSTS:
            problems.append("WEB_BASE_URL points at this machine; mails would link nowhere")
        if not self.smtp_validate_certs:
            problems.append("SMTP_VALIDATE_CERTS is off")
        secret = self.mail_reply_secret.get_secret_value()
        if secret == DEV_REPLY_SECRET or len(secret) < 32:
            problems.append("MAIL_REPLY_SECRET must be set to a random value of 32+ characters")
        return problems
