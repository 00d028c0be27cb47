"""Auth settings (CONVENTIONS.md): database, signing key, token lifetime, throttling, first admin."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, SecretStr, field_validator
from shared.clientip import parse_networks
from shared.dbsetup import service_database_url
from shared.settings import ServiceSettings, database_url_problems

from shared import jwt as jwt_keys

MIN_BOOTSTRAP_PASSWORD = 12


class AuthSettings(ServiceSettings):
    """Settings of the auth service; unprefixed names are the common ones."""

    service_name: str = "auth"
    database_url: str = Field(
        default_factory=lambda: service_database_url("auth"),
        validation_alias="AUTH_DATABASE_URL",
    )
    jwt_private_key: SecretStr | None = Field(None, validation_alias="JWT_PRIVATE_KEY")
    access_token_ttl_s: int = Field(900, ge=60, le=86400, validation_alias="AUTH_ACCESS_TOKEN_TTL_S")
    # Login throttling, per account from one address and per address across accounts: past the
    # free failures each failure delays the next try (1 s, 2 s, 4 s ... up to the maximum);
    # failures are forgotten after a window without any. Never a lock of the account itself.
    login_max_failures: int = Field(5, ge=1, le=1_000_000, validation_alias="AUTH_LOGIN_MAX_FAILURES")
    login_address_max_failures: int = Field(50, ge=1, le=1_000_000, validation_alias="AUTH_LOGIN_ADDRESS_MAX_FAILURES")
    login_max_delay_s: int = Field(900, ge=1, le=86400, validation_alias="AUTH_LOGIN_MAX_DELAY_S")
    login_window_s: int = Field(3600, ge=1, le=7 * 86400, validation_alias="AUTH_LOGIN_WINDOW_S")
    # accounts one client address may create per window (then 429 until the window ends); 0 = off
    signup_address_limit: int = Field(20, ge=0, le=1_000_000, validation_alias="AUTH_SIGNUP_ADDRESS_LIMIT")
    signup_window_s: int = Field(3600, ge=1, le=7 * 86400, validation_alias="AUTH_SIGNUP_WINDOW_S")
    # proxies (the gateway) whose X-Forwarded-For names the client; comma-separated networks
    trusted_proxies: str = Field("127.0.0.1/32,::1/128", validation_alias="AUTH_TRUSTED_PROXIES")
    # argon2 runs in this many threads at most (each hash holds 19 MiB while it runs)
    hash_workers: int = Field(2, ge=1, le=64, validation_alias="AUTH_HASH_WORKERS")
    bootstrap_admin_email: str | None = Field(None, validation_alias="BOOTSTRAP_ADMIN_EMAIL")
    bootstrap_admin_password: SecretStr | None = Field(None, validation_alias="BOOTSTRAP_ADMIN_PASSWORD")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def private_key_pem(self) -> str | None:
        return self.jwt_private_key.get_secret_value() if self.jwt_private_key else None

    def production_problems(self) -> list[str]:
        """Production needs an Ed25519 signing key matching the public key and a database password."""
        problems = super().production_problems()
        problems += database_url_problems("AUTH_DATABASE_URL", self.database_url)
        pem = self.private_key_pem
        if not pem:
            problems.append("JWT_PRIVATE_KEY is not set")
        else:
            try:
                private = jwt_keys.load_private_key(pem)
            except ValueError as exc:
                problems.append(f"JWT_PRIVATE_KEY is not usable: {exc}")
            else:
                derived = _public_pem(private.public_key())
                if self.jwt_public_key and derived != normalised_public_pem(self.jwt_public_key):
                    problems.append("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY")
        password = self.bootstrap_admin_password
        if self.bootstrap_admin_email and (
            password is None or len(password.get_secret_value()) < MIN_BOOTSTRAP_PASSWORD
        ):
            problems.append(f"BOOTSTRAP_ADMIN_PASSWORD must have at least {MIN_BOOTSTRAP_PASSWORD} characters")
        return problems


def public_pem_for(private_pem: str) -> str:
    """The public PEM that verifies tokens signed with `private_pem`."""
    return _public_pem(jwt_keys.load_private_key(private_pem).public_key())


def _public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def normalised_public_pem(pem: str) -> str:
    """`pem` re-encoded canonically ("" when it is not an Ed25519 public key), for comparisons."""
    try:
        return _public_pem(jwt_keys.load_public_key(pem))
    except ValueError:
        return ""
