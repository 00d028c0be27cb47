"""Settings refuse unsafe production starts; dev without a key gets an ephemeral one."""

from __future__ import annotations

from typing import Any

import pytest
from auth.app import create_app, signing_keys
from auth.settings import AuthSettings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from helpdesk_testing.plugin import JwtKeys
from shared.jwt import TokenVerifier, generate_keypair
from shared.settings import InsecureSettingsError

DB_URL = "postgresql+asyncpg://helpdesk_auth:a-long-db-password@db.internal:5432/helpdesk"
MQ_URL = "amqp://auth:a-long-mq-password@mq.internal:5672/helpdesk"


def production(**overrides: Any) -> AuthSettings:
    private_pem, public_pem = generate_keypair()
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": DB_URL,
        "rabbitmq_url": MQ_URL,
        "jwt_private_key": private_pem,
        "jwt_public_key": public_pem,
        "bootstrap_admin_email": None,
        "bootstrap_admin_password": None,
    }
    values.update(overrides)
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


def pem_of(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_a_complete_production_configuration_starts():
    settings = production()
    assert settings.production
    app = create_app(settings)
    assert app.state.token_verifier is not None


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"jwt_private_key": None}, "JWT_PRIVATE_KEY is not set"),
        ({"jwt_private_key": ""}, "JWT_PRIVATE_KEY is not set"),
        ({"jwt_private_key": "not a key"}, "JWT_PRIVATE_KEY is not usable"),
        ({"jwt_private_key": pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))}, "Ed25519"),
        ({"jwt_private_key": pem_of(ec.generate_private_key(ec.SECP256R1()))}, "Ed25519"),
        ({"jwt_public_key": generate_keypair()[1]}, "does not match"),
        ({"jwt_public_key": None}, "JWT_PUBLIC_KEY is not set"),
        ({"database_url": "postgresql+asyncpg://helpdesk_auth@db:5432/helpdesk"}, "AUTH_DATABASE_URL"),
        ({"rabbitmq_url": "amqp://guest:guest@mq:5672/helpdesk"}, "guest"),
        ({"bootstrap_admin_email": "root@example.test", "bootstrap_admin_password": "short"}, "BOOTSTRAP"),
        ({"bootstrap_admin_email": "root@example.test"}, "BOOTSTRAP"),
    ],
)
def test_production_refuses_to_start_with_a_missing_or_weak_secret(overrides: dict[str, Any], complaint: str):
    with pytest.raises(InsecureSettingsError, match="refusing to start in production") as caught:
        production(**overrides)
    assert complaint in str(caught.value)


def test_production_reads_the_environment_and_refuses_without_a_key(monkeypatch: pytest.MonkeyPatch):
    for name in ("JWT_PRIVATE_KEY", "BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_DATABASE_URL", DB_URL)
    monkeypatch.setenv("RABBITMQ_URL", MQ_URL)
    monkeypatch.setenv("JWT_PUBLIC_KEY", generate_keypair()[1])
    with pytest.raises(InsecureSettingsError, match="JWT_PRIVATE_KEY is not set"):
        create_app(AuthSettings(_env_file=None))  # type: ignore[call-arg]


def test_dev_without_a_key_signs_with_an_ephemeral_pair():
    settings = AuthSettings(_env_file=None, environment="dev", jwt_private_key=None, jwt_public_key=None)  # type: ignore[call-arg]
    with_key, private_pem = signing_keys(settings)
    assert with_key.jwt_public_key
    assert private_pem
    app = create_app(settings)
    assert isinstance(app.state.token_verifier, TokenVerifier)


def test_the_verifying_key_is_derived_from_the_signing_key(jwt_keys: JwtKeys):
    settings = AuthSettings(  # type: ignore[call-arg]
        _env_file=None, environment="dev", jwt_private_key=jwt_keys.private_pem, jwt_public_key=None
    )
    with_key, private_pem = signing_keys(settings)
    assert private_pem == jwt_keys.private_pem
    token = jwt_keys.token(role="moderator")
    verifier = TokenVerifier(public_key_pem=with_key.jwt_public_key or "", issuer="helpdesk-auth", audience="helpdesk")
    assert verifier.verify(token).role == "moderator"


def test_a_garbage_key_fails_even_in_dev():
    settings = AuthSettings(_env_file=None, environment="dev", jwt_private_key="garbage")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="PEM"):
        create_app(settings)
