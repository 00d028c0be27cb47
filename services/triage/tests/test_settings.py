"""Settings: provider choice and the refusal of unsafe production settings."""

import pytest
from shared.jwt import generate_keypair
from shared.settings import InsecureSettingsError
from triage.settings import TriageSettings


def settings(**values: object) -> TriageSettings:
    base: dict[str, object] = {"environment": "dev", "gemini_api_key": None, "provider": "auto"}
    base.update(values)
    return TriageSettings(**base)  # type: ignore[arg-type]


def test_provider_choice() -> None:
    assert settings().use_gemini is False
    assert settings(gemini_api_key="k").use_gemini is True
    assert settings(gemini_api_key="k", provider="local").use_gemini is False
    assert settings(provider="gemini").use_gemini is True
    assert "k-secret" not in repr(settings(gemini_api_key="k-secret"))


def test_production_refuses_defaults() -> None:
    with pytest.raises(InsecureSettingsError) as exc:
        settings(environment="production", provider="gemini")
    text = str(exc.value)
    assert "TRIAGE_DATABASE_URL" in text
    assert "GEMINI_API_KEY" in text


def test_production_accepts_real_settings() -> None:
    _, public = generate_keypair()
    ok = settings(
        environment="production",
        jwt_public_key=public,
        rabbitmq_url="amqp://triage:a-long-broker-password@mq:5672/helpdesk",
        database_url="postgresql+asyncpg://helpdesk_triage:a-long-db-password@db/helpdesk",
    )
    assert ok.production


def test_bad_values_refused() -> None:
    with pytest.raises(ValueError, match="provider"):
        settings(provider="mistral")
    with pytest.raises(ValueError, match="moderator_capacity|TRIAGE_MODERATOR_CAPACITY"):
        settings(moderator_capacity=0)
