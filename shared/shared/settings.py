"""Settings every service shares; each service subclasses `ServiceSettings` for its own."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import jwt as jwt_keys

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
    # keep it within twice the database pool: each message in flight holds a connection
    bus_prefetch: int = Field(16, ge=1, le=1000, validation_alias="BUS_PREFETCH")
    db_pool_size: int = Field(10, ge=1, le=200, validation_alias="DB_POOL_SIZE")
    # when set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (the gateway: 404 without it)
    metrics_token: SecretStr | None = Field(None, validation_alias="METRICS_TOKEN")

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
