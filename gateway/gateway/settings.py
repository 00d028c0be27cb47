"""Gateway settings: where the services listen, limits, timeouts and the revocation refresh."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from shared.clientip import parse_networks
from shared.settings import ServiceSettings

# gateway/gateway/settings.py -> the repository root (in a source checkout)
_REPO_WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
UPSTREAMS = ("auth", "tickets", "triage", "notifier")


def default_web_dir() -> str:
    """<repo>/web/dist in a checkout; ./web/dist where the package is installed (the image)."""
    if _REPO_WEB_DIST.is_dir():
        return str(_REPO_WEB_DIST)
    return str(Path.cwd() / "web" / "dist")


class GatewaySettings(ServiceSettings):
    """Settings of the gateway; `GATEWAY_*` environment variables (CONVENTIONS.md)."""

    service_name: str = "gateway"
    auth_url: str = Field("http://127.0.0.1:8101", validation_alias="GATEWAY_AUTH_URL")
    tickets_url: str = Field("http://127.0.0.1:8102", validation_alias="GATEWAY_TICKETS_URL")
    triage_url: str = Field("http://127.0.0.1:8103", validation_alias="GATEWAY_TRIAGE_URL")
    notifier_url: str = Field("http://127.0.0.1:8104", validation_alias="GATEWAY_NOTIFIER_URL")
    body_limit: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024, validation_alias="GATEWAY_BODY_LIMIT")
    # POST /api/triage/examples takes up to 1,000 labelled tickets a call
    import_body_limit: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024, validation_alias="GATEWAY_IMPORT_BODY_LIMIT"
    )
    connect_timeout: float = Field(2.0, gt=0, le=60, validation_alias="GATEWAY_CONNECT_TIMEOUT")
    upstream_timeout: float = Field(30.0, gt=0, le=600, validation_alias="GATEWAY_UPSTREAM_TIMEOUT")
    pool_size: int = Field(100, ge=1, le=10_000, validation_alias="GATEWAY_POOL_SIZE")
    web_dir: str = Field(default_factory=default_web_dir, validation_alias="GATEWAY_WEB_DIR")
    # access token lifetime of auth: revocations older than this (plus a margin) cannot matter
    token_ttl_s: int = Field(900, ge=60, validation_alias="GATEWAY_TOKEN_TTL")
    revocation_refresh_s: float = Field(30.0, gt=0, le=50, validation_alias="GATEWAY_REVOCATION_REFRESH")
    # the upstreams whose /healthz must answer for /readyz to say ready (comma separated)
    ready_upstreams: str = Field(",".join(UPSTREAMS), validation_alias="GATEWAY_READY_UPSTREAMS")
    # reverse proxies / load balancers in front of the gateway whose X-Forwarded-For is believed
    # (comma-separated networks); empty: the connecting peer is the client
    trusted_proxies: str = Field("", validation_alias="GATEWAY_TRUSTED_PROXIES")
    openapi_retry_s: float = Field(10.0, ge=0, validation_alias="GATEWAY_OPENAPI_RETRY")
    # browser origins allowed to call /api and /compat/api from another site (comma separated;
    # none by default: the web app is served from the gateway's own origin)
    cors_allowed_origins: str = Field("", validation_alias="CORS_ALLOWED_ORIGINS")
    # /compat/api lists are whole arrays in the original contract: at most this many items
    compat_list_max: int = Field(500, ge=1, le=10_000, validation_alias="GATEWAY_COMPAT_LIST_MAX")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def upstream_urls(self) -> dict[str, str]:
        return {
            "auth": self.auth_url.rstrip("/"),
            "tickets": self.tickets_url.rstrip("/"),
            "triage": self.triage_url.rstrip("/"),
            "notifier": self.notifier_url.rstrip("/"),
        }

    def cors_origins(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_allowed_origins.split(",") if origin.strip()]

    def required_upstreams(self) -> list[str]:
        names = [name.strip() for name in self.ready_upstreams.split(",") if name.strip()]
        return [name for name in names if name in UPSTREAMS]
