"""Settings every service shares; each service subclasses `ServiceSettings` for its own."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import jwt as jwt_keys
from shared.bus import broker_user

DEV_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/helpdesk"


class InsecureSettingsError(RuntimeError):
    """A production start with a default, weak or missing secret."""


class ServiceSettings(BaseSettings):
    """Common settings. Field names map to unprefixed environment variables (see CONVENTIONS.md)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, frozen=True)

    def __init__(self, **values: Any) -> None:
        # HELPDESK_ENV_FILE="" turns the .env file off (the test plugin does: tests see no dev secrets)
        if "_env_file" not in values:
            values["_env_file"] = os.environ.get("HELPDESK_ENV_FILE", ".env") or None
        super().__init__(**values)

    service_name: str = "service"
    environment: Literal["dev", "test", "production"] = Field("dev", validation_alias="ENVIRONMENT")
    rabbitmq_url: str = Field(DEV_RABBITMQ_URL, validation_alias="RABBITMQ_URL")
    jwt_public_key: str | None = Field(None, validation_alias="JWT_PUBLIC_KEY")
    jwt_issuer: str = Field("helpdesk-auth", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field("helpdesk", validation_alias="JWT_AUDIENCE")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_json: bool | None = Field(None, validation_alias="LOG_JSON")
    # share of fast successful requests (2xx/3xx answered within 1 s) written to the access
    # log; errors and slow requests always are. Below 1 the log line costs most requests nothing.
    access_log_sample: float = Field(1.0, ge=0, le=1, validation_alias="ACCESS_LOG_SAMPLE")
    # keep it within twice the database pool: each message in flight holds a connection
    bus_prefetch: int = Field(16, ge=1, le=1000, validation_alias="BUS_PREFETCH")
    # Connection budget of one process (deploy/README.md "Postgres connections"): up to
    # 2 x DB_POOL_SIZE kept while busy, + DB_MAX_OVERFLOW closed on return; idle for
    # DB_IDLE_TIMEOUT seconds, it keeps one. A request waits at most DB_POOL_TIMEOUT for a pooled
    # connection and DB_CONNECT_TIMEOUT for a new one, then answers 503 with Retry-After.
    db_pool_size: int = Field(10, ge=1, le=200, validation_alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(0, ge=0, le=200, validation_alias="DB_MAX_OVERFLOW")
    db_idle_timeout: float = Field(30.0, gt=0, le=86400, validation_alias="DB_IDLE_TIMEOUT")
    db_pool_timeout: float = Field(2.0, gt=0, le=60, validation_alias="DB_POOL_TIMEOUT")
    db_connect_timeout: float = Field(2.0, gt=0, le=60, validation_alias="DB_CONNECT_TIMEOUT")
    # PgBouncer (transaction pooling) between the process and Postgres: no server-side prepared
    # statement cache, and no LISTEN (the outbox relay polls instead)
    db_behind_pooler: bool = Field(False, validation_alias="DB_BEHIND_POOLER")
    # a process whose consumers stay paused this long although a fresh connection to the
    # database works cannot heal itself: /healthz fails so the platform restarts it
    stuck_limit_s: float = Field(30.0, gt=0, le=3600, validation_alias="STUCK_LIMIT_S")
    # when set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (the gateway: 404 without it)
    metrics_token: SecretStr | None = Field(None, validation_alias="METRICS_TOKEN")
    # OpenTelemetry traces by OTLP/HTTP to <endpoint>/v1/traces (shared.tracing); unset: tracing off
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    # share of new traces recorded (a request that arrives sampled or not keeps its parent's choice)
    otel_traces_sampler_arg: float = Field(1.0, ge=0, le=1, validation_alias="OTEL_TRACES_SAMPLER_ARG")

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production; subclasses add their own."""
        problems = []
        if not self.jwt_public_key:
            problems.append("JWT_PUBLIC_KEY is not set")
        else:
            try:
                jwt_keys.load_public_key(self.jwt_public_key)
            except ValueError as exc:
                problems.append(f"JWT_PUBLIC_KEY is not usable: {exc}")
        if "guest:guest@" in self.rabbitmq_url:
            problems.append("RABBITMQ_URL uses the default guest account")
        if not broker_user(self.rabbitmq_url).endswith(self.service_name):
            # consumers tell services' events apart by their broker users (shared.bus)
            problems.append(f"RABBITMQ_URL must log in as the {self.service_name!r} broker user")
        return problems

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServiceSettings:
        if self.production:
            problems = self.production_problems()
            if problems:
                raise InsecureSettingsError("refusing to start in production: " + "; ".join(problems))
        return self


def database_url_problems(name: str, url: str) -> list[str]:
    """A production database URL must carry a password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.password or len(parsed.password) < 12:
        return [f"{name} has no password or a short one"]
    return []
