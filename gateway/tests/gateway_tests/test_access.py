"""Token verification and role checks happen at the gateway, before anything is forwarded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt as pyjwt
import pytest
from helpdesk_testing.plugin import JwtKeys, bearer
from shared.jwt import TokenIssuer, generate_keypair

from .conftest import StandIn

TICKET = "9b2f5f0e-8f5d-4c1e-9a7e-0a4f4c1d2e3f"
ADMIN_ROUTES = [
    ("GET", "/api/auth/users", "auth"),
    ("POST", "/api/auth/update-user", "auth"),
    ("GET", "/api/triage/categories", "triage"),
    ("PUT", "/api/triage/categories", "triage"),
    ("POST", "/api/triage/examples", "triage"),
    ("POST", "/api/triage/retrain", "triage"),
    ("GET", "/api/triage/model", "triage"),
    ("GET", "/api/triage/decisions", "triage"),
    ("POST", f"/api/tickets/{TICKET}/retriage", "tickets"),
    ("GET", "/api/dead-letters/tickets", "tickets"),
    ("GET", f"/api/dead-letters/triage/{TICKET}", "triage"),
    ("POST", f"/api/dead-letters/notifier/{TICKET}/replay", "notifier"),
    ("POST", "/api/dead-letters/triage/replay", "triage"),
    ("POST", f"/api/dead-letters/tickets/{TICKET}/discard", "tickets"),
]
USER_ROUTES = [
    ("GET", "/api/auth/me", "auth"),
    ("POST", "/api/auth/resend-verification", "auth"),
    ("POST", "/api/tickets", "tickets"),
    ("GET", "/api/tickets", "tickets"),
    ("GET", f"/api/tickets/{TICKET}", "tickets"),
    ("PATCH", f"/api/tickets/{TICKET}", "tickets"),
    ("POST", f"/api/tickets/{TICKET}/comments", "tickets"),
    ("GET", f"/api/tickets/{TICKET}/comments", "tickets"),
    ("GET", "/api/notifications/preferences", "notifier"),
    ("PUT", "/api/notifications/preferences", "notifier"),
]
# moderators and admins (a moderator's figures are narrowed by the service)
STAFF_ROUTES = [("GET", "/api/stats", "tickets")]
PUBLIC_ROUTES = [
    ("POST", "/api/auth/signup", "auth"),
    ("POST", "/api/auth/login", "auth"),
    ("POST", "/api/auth/set-password", "auth"),  # the token is in the body (a mailed link)
    ("POST", "/api/auth/verify", "auth"),  # the same: the verification mail's link
]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(role: str = "admin") -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "sub": str(uuid.uuid4()),
        "role": role,
        "email": "x@example.test",
        "name": "X",
        "iss": "helpdesk-auth",
        "aud": "helpdesk",
        "iat": now.timestamp(),
        "exp": int((now + timedelta(minutes=10)).timestamp()),
        "jti": uuid.uuid4().hex,
    }


def bad_tokens(keys: JwtKeys) -> dict[str, str]:
    """Every kind of token the gateway must refuse with 401 (all claim role admin)."""
    past = datetime.now(UTC) - timedelta(hours=1)
    other_private, _ = generate_keypair()
    valid = keys.token(role="user")
    header, payload, signature = valid.split(".")
    forged_payload = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload["role"] = "admin"
    return {
        "expired": keys.issuer_for_tests(ttl=timedelta(minutes=5)).issue(
            user_id=uuid.uuid4(), role="admin", email="a@example.test", name="A", now=past
        ),
        "wrong_audience": TokenIssuer(
            private_key_pem=keys.private_pem, issuer=keys.issuer, audience="someone-else"
        ).issue(user_id=uuid.uuid4(), role="admin", email="a@example.test", name="A"),
        "wrong_issuer": TokenIssuer(
            private_key_pem=keys.private_pem, issuer="evil-issuer", audience=keys.audience
        ).issue(user_id=uuid.uuid4(), role="admin", email="a@example.test", name="A"),
        "other_key": TokenIssuer(private_key_pem=other_private, issuer=keys.issuer, audience=keys.audience).issue(
            user_id=uuid.uuid4(), role="admin", email="a@example.test", name="A"
        ),
        "tampered": f"{header}.{_b64(forged_payload)}.{signature}",
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
        # the classic algorithm confusion: HMAC keyed with the public key
        "hs256_with_public_key": _hs256(keys.public_pem.encode()),
        "garbage": "not-a-token",
        "unknown_role": pyjwt.encode(
            {**_claims(), "role": "superuser"},
            _private_key(keys),
            algorithm="EdDSA",
        ),
    }


def _hs256(secret: bytes) -> str:
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(_claims())}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _private_key(keys: JwtKeys) -> object:
    from shared.jwt import load_private_key

    return load_private_key(keys.private_pem)


def _marker() -> str:
    return uuid.uuid4().hex


async def _call(
    client: httpx.AsyncClient, method: str, path: str, marker: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"probe": marker} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, path, params={"probe": marker}, json=body, headers=headers)


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


@pytest.mark.parametrize(("method", "path", "service"), ADMIN_ROUTES + STAFF_ROUTES + USER_ROUTES)
async def test_protected_routes_refuse_a_missing_token(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], method: str, path: str, service: str
) -> None:
    marker = _marker()
    response = await _call(gateway, method, path, marker)
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert upstreams[service].requests_with(marker) == []


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "other_key",
        "tampered",
        "alg_none",
        "hs256_with_public_key",
        "garbage",
        "unknown_role",
    ],
)
async def test_bad_tokens_get_401_and_are_not_forwarded(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], jwt_keys: JwtKeys, kind: str
) -> None:
    token = bad_tokens(jwt_keys)[kind]
    for method, path, service in [ADMIN_ROUTES[0], USER_ROUTES[0]]:
        marker = _marker()
        response = await _call(gateway, method, path, marker, bearer(token))
        _assert_problem(response, 401)
        assert upstreams[service].requests_with(marker) == []


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", ""])
async def test_malformed_authorization_headers_get_401(gateway: httpx.AsyncClient, header: str) -> None:
    response = await gateway.get("/api/auth/me", headers={"Authorization": header})
    _assert_problem(response, 401)


@pytest.mark.parametrize(("method", "path", "service"), ADMIN_ROUTES)
@pytest.mark.parametrize("role", ["user", "moderator"])
async def test_admin_routes_refuse_other_roles_with_403(
    gateway: httpx.AsyncClient,
    upstreams: dict[str, StandIn],
    jwt_keys: JwtKeys,
    method: str,
    path: str,
    service: str,
    role: str,
) -> None:
    marker = _marker()
    response = await _call(gateway, method, path, marker, bearer(jwt_keys.token(role=role)))
    _assert_problem(response, 403)
    assert upstreams[service].requests_with(marker) == []


@pytest.mark.parametrize(("method", "path", "service"), ADMIN_ROUTES)
async def test_admin_routes_forward_for_admins(
    gateway: httpx.AsyncClient,
    upstreams: dict[str, StandIn],
    jwt_keys: JwtKeys,
    method: str,
    path: str,
    service: str,
) -> None:
    marker = _marker()
    response = await _call(gateway, method, path, marker, bearer(jwt_keys.token(role="admin")))
    assert response.status_code == 200, response.text
    seen = upstreams[service].requests_with(marker)
    assert len(seen) == 1
    assert (seen[0]["method"], seen[0]["path"]) == (method, path)


@pytest.mark.parametrize(("method", "path", "service"), STAFF_ROUTES)
async def test_staff_routes_refuse_users_and_forward_for_moderators_and_admins(
    gateway: httpx.AsyncClient,
    upstreams: dict[str, StandIn],
    jwt_keys: JwtKeys,
    method: str,
    path: str,
    service: str,
) -> None:
    marker = _marker()
    _assert_problem(await _call(gateway, method, path, marker, bearer(jwt_keys.token(role="user"))), 403)
    assert upstreams[service].requests_with(marker) == []
    for role in ("moderator", "admin"):
        marker = _marker()
        response = await _call(gateway, method, path, marker, bearer(jwt_keys.token(role=role)))
        assert response.status_code == 200, response.text
        assert len(upstreams[service].requests_with(marker)) == 1


@pytest.mark.parametrize(("method", "path", "service"), USER_ROUTES)
@pytest.mark.parametrize("role", ["user", "moderator", "admin"])
async def test_user_routes_forward_for_every_signed_in_role(
    gateway: httpx.AsyncClient,
    upstreams: dict[str, StandIn],
    jwt_keys: JwtKeys,
    method: str,
    path: str,
    service: str,
    role: str,
) -> None:
    marker = _marker()
    response = await _call(gateway, method, path, marker, bearer(jwt_keys.token(role=role)))
    assert response.status_code == 200, response.text
    assert response.json()["service"] == service
    assert len(upstreams[service].requests_with(marker)) == 1


@pytest.mark.parametrize(("method", "path", "service"), PUBLIC_ROUTES)
async def test_signup_and_login_need_no_token(
    gateway: httpx.AsyncClient, upstreams: dict[str, StandIn], method: str, path: str, service: str
) -> None:
    marker = _marker()
    response = await _call(gateway, method, path, marker)
    assert response.status_code == 200, response.text
    assert len(upstreams[service].requests_with(marker)) == 1


async def test_public_paths_with_another_method_need_a_token(gateway: httpx.AsyncClient) -> None:
    _assert_problem(await gateway.get("/api/auth/login"), 401)
    _assert_problem(await gateway.put("/api/auth/signup", json={}), 401)


async def test_admin_check_cannot_be_dodged_by_method_or_case(gateway: httpx.AsyncClient, jwt_keys: JwtKeys) -> None:
    user = bearer(jwt_keys.token(role="user"))
    _assert_problem(await gateway.delete("/api/auth/users", headers=user), 403)
    _assert_problem(await gateway.get(f"/api/tickets/{TICKET}/retriage", headers=user), 403)
    _assert_problem(await gateway.get("/api/triage/anything/else", headers=user), 403)


async def test_a_cached_token_still_expires_and_a_changed_byte_is_checked_again(jwt_keys: JwtKeys) -> None:
    from gateway.tokens import CachingVerifier
    from shared.jwt import InvalidTokenError, TokenVerifier

    verifier = CachingVerifier(
        TokenVerifier(
            public_key_pem=jwt_keys.public_pem, issuer=jwt_keys.issuer, audience=jwt_keys.audience, leeway_s=0
        ),
        max_entries=2,
    )
    short = jwt_keys.issuer_for_tests(ttl=timedelta(seconds=1)).issue(
        user_id=uuid.uuid4(), role="user", email="s@example.test", name="S", now=datetime.now(UTC)
    )
    assert verifier.verify(short).role == "user"
    assert verifier.verify(short).role == "user"  # from the cache
    header, payload, signature = short.split(".")
    # a character inside the signature (the last one carries padding bits, a change there may decode
    # to the same bytes): always a different signature
    middle = len(signature) // 2
    tampered = signature[:middle] + ("B" if signature[middle] == "A" else "A") + signature[middle + 1 :]
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{header}.{payload}.{tampered}")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["role"] = "admin"
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{header}.{_b64(forged)}.{signature}")
    await asyncio.sleep(1.2)
    with pytest.raises(InvalidTokenError):
        verifier.verify(short)
    # bounded
    for _ in range(5):
        verifier.verify(jwt_keys.token())
    assert len(verifier._entries) <= 2
