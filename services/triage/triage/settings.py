"""Triage settings (CONVENTIONS.md): database, provider choice, Gemini, assignment, retraining."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from shared.dbsetup import service_database_url
from shared.settings import ServiceSettings, database_url_problems


class TriageSettings(ServiceSettings):
    """Settings of the triage service; unprefixed names are the common ones."""

    service_name: str = "triage"
    database_url: str = Field(
        default_factory=lambda: service_database_url("triage"),
        validation_alias="TRIAGE_DATABASE_URL",
    )
    provider: Literal["auto", "gemini", "openai", "local"] = Field("auto", validation_alias="TRIAGE_PROVIDER")
    gemini_api_key: SecretStr | None = Field(None, validation_alias="GEMINI_API_KEY")
    gemini_base_url: str | None = Field(None, validation_alias="GEMINI_BASE_URL")
    gemini_model: str = Field("gemini-2.5-flash", validation_alias="GEMINI_MODEL")
    gemini_timeout_s: float = Field(10.0, gt=0, le=120, validation_alias="GEMINI_TIMEOUT_S")
    gemini_attempts: int = Field(3, ge=1, le=10, validation_alias="GEMINI_ATTEMPTS")
    # Any OpenAI-compatible chat endpoint (TRIAGE_PROVIDER=openai), e.g. http://127.0.0.1:11434/v1
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    openai_timeout_s: float = Field(10.0, gt=0, le=120, validation_alias="OPENAI_TIMEOUT_S")
    openai_attempts: int = Field(3, ge=1, le=10, validation_alias="OPENAI_ATTEMPTS")
    # Open tickets a moderator may hold before triage passes them over (admins have no limit).
    moderator_capacity: int = Field(20, ge=1, le=10000, validation_alias="TRIAGE_MODERATOR_CAPACITY")
    # When every moderator who fits is full: "wait" (the ticket waits for the first of them to
    # free a slot) or "least_loaded" (it goes to the least loaded of them, above capacity).
    overflow: Literal["wait", "least_loaded"] = Field("wait", validation_alias="TRIAGE_OVERFLOW")
    # Ticket events in flight together are triaged together (one prediction, one transaction) in
    # batches of at most this many (local model only; 1 = one at a time). BUS_PREFETCH bounds it.
    # Ticket updates in flight together are followed in one transaction too (any analyzer).
    batch_size: int = Field(32, ge=1, le=256, validation_alias="TRIAGE_BATCH_SIZE")
    # How often a worker looks for a newer model version stored by another process.
    model_poll_s: float = Field(3.0, gt=0, le=3600, validation_alias="TRIAGE_MODEL_POLL_S")
    # How often new examples (imports, corrections) trigger a retrain; 0 = only POST /retrain.
    retrain_interval_s: float = Field(30.0, ge=0, le=86400, validation_alias="TRIAGE_RETRAIN_INTERVAL_S")
    max_training_examples: int = Field(50000, ge=100, le=1_000_000, validation_alias="TRIAGE_MAX_TRAINING_EXAMPLES")
    # Incidents (triage.incidents): a new ticket at least this similar (triage.similarity, 0..1) to
    # an open ticket filed within the window before it joins that ticket's incident or opens one
    # with it. Defaults measured with bench/incident_grouping.py (README, "Incidents").
    incidents: bool = Field(True, validation_alias="TRIAGE_INCIDENTS")
    incident_threshold: float = Field(0.45, gt=0, le=1, validation_alias="TRIAGE_INCIDENT_THRESHOLD")
    incident_window_s: float = Field(600.0, gt=0, le=7 * 86400, validation_alias="TRIAGE_INCIDENT_WINDOW_S")

    @property
    def use_gemini(self) -> bool:
        """Gemini answers when forced, or by default when a key is set."""
        if self.provider in ("local", "openai"):
            return False
        if self.provider == "gemini":
            return True
        return self.gemini_api_key is not None and bool(self.gemini_api_key.get_secret_value())

    @property
    def use_openai(self) -> bool:
        """The OpenAI-compatible endpoint answers only when chosen and given a URL."""
        return self.provider == "openai" and bool(self.openai_base_url)

    def production_problems(self) -> list[str]:
        """Production needs a database password, and a key whenever Gemini is forced."""
        problems = super().production_problems()
        problems += database_url_problems("TRIAGE_DATABASE_URL", self.database_url)
        if self.provider == "gemini" and not self.gemini_api_key:
            problems.append("TRIAGE_PROVIDER=gemini but GEMINI_API_KEY is not set")
        if self.provider == "openai" and not self.openai_base_url:
            problems.append("TRIAGE_PROVIDER=openai but OPENAI_BASE_URL is not set")
        return problems
