"""The pieces every HTTP service shares: tokens, problems, ids, body limit, cursors, settings."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt as pyjwt
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from shared.auth import AdminPrincipal, CurrentPrincipal
from shared.jwt import InvalidTokenError, TokenIssuer, TokenVerifier, generate_keypair
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import ProblemError
from shared.settings import InsecureSettingsError, ServiceSettings
from shared.web import create_service_app


def verifier(keys) -> TokenVerifier:
    return TokenVerifier(public_key_pem=keys.public_pem, issuer=keys.issuer, audience=keys.audience)


def test_a_valid_token_gives_the_principal(jwt_keys):
    user_id = uuid.uuid4()
    principal = verifier(jwt_keys).verify(jwt_keys.token(role="moderator", user_id=user_id, name="Mo"))
    assert principal.id == user_id
    assert principal.role == "moderator"
    assert principal.is_staff
    assert not principal.is_admin


def _unsigned(claims: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize(
    "case",
    [
        "alg_none",
        "wrong_key",
        "expired",
        "wrong_aud",
        "wrong_iss",
        "missing_jti",
        "bad_role",
        "hs256_with_public_key",
        "tampered",
    ],
)
def test_bad_tokens_are_refused(jwt_keys, case):
    now = datetime.now(UTC)
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "admin",
        "iss": jwt_keys.issuer,
        "aud": jwt_keys.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "j",
    }
    good_issuer = jwt_keys.issuer_for_tests()
    if case == "alg_none":
        token = _unsigned(claims)
    elif case == "wrong_key":
        other_private, _ = generate_keypair()
        token = TokenIssuer(private_key_pem=other_private, issuer=jwt_keys.issuer, audience=jwt_keys.audience).issue(
            user_id=uuid.uuid4(), role="admin", email="", name=""
        )
    elif case == "expired":
        token = good_issuer.issue(user_id=uuid.uuid4(), role="user", email="", name="", now=now - timedelta(hours=1))
    elif case == "wrong_aud":
        token = TokenIssuer(private_key_pem=jwt_keys.private_pem, issuer=jwt_keys.issuer, audience="other").issue(
            user_id=uuid.uuid4(), role="user", email="", name=""
        )
    elif case == "wrong_iss":
        token = TokenIssuer(private_key_pem=jwt_keys.private_pem, issuer="evil", audience=jwt_keys.audience).issue(
            user_id=uuid.uuid4(), role="user", email="", name=""
        )
    elif case == "missing_jti":
        del claims["jti"]
        token = pyjwt.encode(claims, _private(jwt_keys), algorithm="EdDSA")
    elif case == "bad_role":
        claims["role"] = "superuser"
        token = pyjwt.encode(claims, _private(jwt_keys), algorithm="EdDSA")
    elif case == "hs256_with_public_key":
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        import hashlib
        import hmac

        sig = hmac.new(jwt_keys.public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        token = f"{header}.{body}." + base64.urlsafe_b64encode(sig).decode().rstrip("=")
    else:
        token = good_issuer.issue(user_id=uuid.uuid4(), role="user", email="", name="")
        head, body, sig = token.split(".")
        forged = json.loads(base64.urlsafe_b64decode(body + "=="))
        forged["role"] = "admin"
        body = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        token = f"{head}.{body}.{sig}"
    with pytest.raises(InvalidTokenError):
        verifier(jwt_keys).verify(token)


def _private(keys):
    from shared.jwt import load_private_key

    return load_private_key(keys.private_pem)


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10)


def build_app(keys):
    settings = ServiceSettings(service_name="t", environment="test", jwt_public_key=keys.public_pem)
    app = create_service_app(title="t", settings=settings, readiness=_ready, body_limit=1024)
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: Echo, principal: CurrentPrincipal) -> dict[str, str]:
        return {"text": body.text, "role": principal.role}

    @router.get("/admin")
    async def admin_only(principal: AdminPrincipal) -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/conflict")
    async def conflict() -> None:
        raise ProblemError(409, "already there")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals at db-host-7")

    app.include_router(router)
    return app


async def _ready() -> dict[str, bool]:
    return {"database": True, "broker": False}


@pytest.fixture
async def client(jwt_keys):
    transport = httpx.ASGITransport(app=build_app(jwt_keys), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def auth(keys, role="user"):
    return {"Authorization": f"Bearer {keys.token(role=role)}"}


async def test_validation_errors_are_problem_documents(client, jwt_keys):
    r = await client.post("/echo", json={"text": "hi", "role": "admin"}, headers=auth(jwt_keys))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 422
    assert body["title"] == "Validation failed"
    assert any(e["loc"][-1] == "role" for e in body["errors"])


async def test_missing_token_is_401_and_wrong_role_is_403(client, jwt_keys):
    r = await client.post("/echo", json={"text": "hi"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/admin", headers=auth(jwt_keys, "moderator"))).status_code == 403
    assert (await client.get("/admin", headers=auth(jwt_keys, "admin"))).json() == {"ok": "yes"}


async def test_errors_never_leak_internals(client):
    r = await client.get("/boom")
    assert r.status_code == 500
    assert "db-host-7" not in r.text
    assert "Traceback" not in r.text
    assert (await client.get("/conflict")).json()["detail"] == "already there"
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_request_id_is_kept_or_made(client):
    assert (await client.get("/healthz", headers={"X-Request-ID": "abc-123"})).headers["x-request-id"] == "abc-123"
    made = (await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})).headers["x-request-id"]
    assert made != "bad id\nwith newline"
    assert len(made) == 32


async def test_body_limit_by_header_and_by_stream(client, jwt_keys):
    big = {"text": "x" * 2000}
    r = await client.post("/echo", json=big, headers=auth(jwt_keys))
    assert r.status_code == 413
    assert r.json()["status"] == 413

    async def chunks():
        for _ in range(4):
            yield b"x" * 512

    r = await client.post("/echo", content=chunks(), headers={**auth(jwt_keys), "content-type": "application/json"})
    assert r.status_code == 413


async def test_readyz_reports_each_dependency(client):
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": True, "broker": False}
    assert (await client.get("/healthz")).status_code == 200
    assert "http_requests_total" in (await client.get("/metrics")).text


def test_cursor_round_trip_and_garbage():
    now = datetime.now(UTC)
    row = uuid.uuid4()
    assert decode_cursor(encode_cursor(now, row)) == (now, row)
    for garbage in ("", "not-base64!", base64.urlsafe_b64encode(b'["x", "y"]').decode()):
        with pytest.raises(ProblemError) as err:
            decode_cursor(garbage)
        assert err.value.status == 422


@pytest.mark.parametrize(
    "forged",
    [
        ["2020-01-01T00:00:00+00:00", 5],  # an id that is no string
        ["2020-01-01T00:00:00+00:00", ["x"]],
        ["9999-12-31T23:59:59-14:00", "00000000-0000-0000-0000-000000000000"],  # past the end in UTC
        ["0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000000"],  # before the start in UTC
        ["2020-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000", "extra"],
        {"2020-01-01T00:00:00+00:00": 1, "x": 2},
    ],
)
def test_forged_cursors_are_422(forged):
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(ProblemError) as err:
        decode_cursor(cursor)
    assert err.value.status == 422


def test_production_refuses_default_secrets(jwt_keys):
    with pytest.raises(InsecureSettingsError, match="JWT_PUBLIC_KEY is not set"):
        ServiceSettings(environment="production", rabbitmq_url="amqp://svc:long-password@mq/helpdesk")
    with pytest.raises(InsecureSettingsError, match="guest"):
        ServiceSettings(environment="production", jwt_public_key=jwt_keys.public_pem)
    with pytest.raises(InsecureSettingsError, match="broker user"):
        ServiceSettings(
            service_name="svc",
            environment="production",
            jwt_public_key=jwt_keys.public_pem,
            rabbitmq_url="amqp://other:long-password@mq/helpdesk",
        )
    ok = ServiceSettings(
        service_name="svc",
        environment="production",
        jwt_public_key=jwt_keys.public_pem,
        rabbitmq_url="amqp://svc:long-password@mq/helpdesk",
    )
    assert ok.production


async def test_a_named_path_may_take_a_larger_body(jwt_keys):
    settings = ServiceSettings(service_name="t", environment="test", jwt_public_key=jwt_keys.public_pem)
    app = create_service_app(
        title="t", settings=settings, readiness=_ready, body_limit=1024, larger_bodies={"/import": 8192}
    )

    @app.post("/import")
    async def bulk(body: dict) -> dict[str, int]:
        return {"size": len(body["data"])}

    @app.post("/other")
    async def other(body: dict) -> dict[str, int]:
        return {"size": len(body["data"])}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.post("/import", json={"data": "x" * 5000})).json() == {"size": 5000}
        assert (await c.post("/other", json={"data": "x" * 5000})).status_code == 413
        assert (await c.post("/import", json={"data": "x" * 9000})).status_code == 413


@pytest.mark.parametrize("bad", ["nul\x00inside", "lone \ud800 surrogate", "\udfff"])
def test_storable_text_refuses_what_postgres_cannot_hold(bad):
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError
    from shared.text import Storable

    adapter = TypeAdapter(Annotated[str, Storable])
    with pytest.raises(ValidationError):
        adapter.validate_python(bad)
    assert adapter.validate_python("ordinary text, ünïcödé, 😀") == "ordinary text, ünïcödé, 😀"


async def test_a_database_out_of_reach_is_503_and_a_failed_query_500(jwt_keys):
    from sqlalchemy.exc import IntegrityError, OperationalError

    settings = ServiceSettings(service_name="t", environment="test", jwt_public_key=jwt_keys.public_pem)
    app = create_service_app(title="t", settings=settings, readiness=_ready)
    raised = {
        "refused": ConnectionRefusedError(111, "Connection refused"),
        "lost": OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        "constraint": IntegrityError("INSERT", {}, Exception("duplicate key")),
    }

    @app.get("/fail/{kind}")
    async def fail(kind: str) -> None:
        raise raised[kind]

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for kind, status in (("refused", 503), ("lost", 503), ("constraint", 500)):
            response = await c.get(f"/fail/{kind}")
            assert response.status_code == status, (kind, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "duplicate key" not in response.text
            assert "Connection refused" not in response.text
        assert (await c.get("/fail/refused")).headers["retry-after"] == "5"


@pytest.mark.parametrize("as_json", [False, True])
def test_logged_errors_carry_no_local_variables(capsys, as_json):
    from shared.logging import configure_logging, get_logger

    configure_logging(service="test", json=as_json)

    def handler() -> None:
        secret_email = "victim-local-variable@example.test"  # noqa: F841 - what must not be logged
        raise RuntimeError("boom")

    try:
        handler()
    except RuntimeError:
        get_logger("test").exception("failed")
        # how uvicorn reports an error no handler caught
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=True)
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err  # the traceback itself is kept
    assert "victim-local-variable" not in err


@pytest.mark.parametrize(("sample", "logged"), [(1.0, {200, 404}), (0.0, {404})])
async def test_access_log_sampling_keeps_every_error(monkeypatch, sample, logged):
    from shared import web

    written: list[int] = []

    class Recorder:
        def info(self, event, **fields):
            written.append(fields["status"])

    monkeypatch.setattr(web, "log", Recorder())

    async def app(scope, receive, send):
        status = 200 if scope["path"] == "/ok" else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = web.RequestContextMiddleware(app, access_log_sample=sample)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://t") as client:
        for _ in range(20):
            assert (await client.get("/ok")).status_code == 200
        assert (await client.get("/missing")).status_code == 404
    assert set(written) == logged
    assert written.count(200) == (20 if sample == 1.0 else 0)
