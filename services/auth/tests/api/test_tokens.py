"""Tokens: GET /api/auth/me, the tokens refused with 401, verification with the public key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from helpdesk_testing.plugin import JwtKeys, bearer
from shared.jwt import TokenIssuer, TokenVerifier

from ..helpers import PROBLEM, signup

# --- tokens ---------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_me_returns_the_caller(client):
    created = await signup(client, "me@example.test")
    response = await client.get("/api/auth/me", headers=bearer(created["token"]))
    assert response.status_code == 200
    assert response.json() == created["user"]


async def test_bad_tokens_get_401(client, jwt_keys: JwtKeys):
    created = await signup(client, "tok@example.test")
    user_id = uuid.UUID(created["user"]["id"])
    token = created["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    expired = jwt_keys.token(user_id=user_id, now=datetime.now(UTC) - timedelta(hours=1))
    tampered = ".".join([header, _b64({**claims, "role": "admin"}), signature])
    alg_none = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64({**claims, "role": "admin"}), ""])
    # the classic confusion: HS256 "signed" with the public key as the shared secret
    hs_head = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64({**claims, "role": "admin"})
    hs_sig = hmac.new(jwt_keys.public_pem.encode(), hs_head.encode(), hashlib.sha256).digest()
    hs256 = hs_head + "." + base64.urlsafe_b64encode(hs_sig).decode().rstrip("=")

    def other(**kw: str) -> str:
        issuer = TokenIssuer(
            private_key_pem=jwt_keys.private_pem,
            issuer=kw.get("iss", "helpdesk-auth"),
            audience=kw.get("aud", "helpdesk"),
        )
        return issuer.issue(user_id=user_id, role="user", email="tok@example.test", name="tok")

    from shared.jwt import generate_keypair

    foreign_key = TokenIssuer(private_key_pem=generate_keypair()[0], issuer="helpdesk-auth", audience="helpdesk")
    foreign = foreign_key.issue(user_id=user_id, role="user", email="tok@example.test", name="tok")
    unknown_user = jwt_keys.token(user_id=uuid.uuid4())

    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {token}"},
        "garbage": bearer("not.a.token"),
        "expired": bearer(expired),
        "tampered": bearer(tampered),
        "alg none": bearer(alg_none),
        "alg confusion": bearer(hs256),
        "wrong audience": bearer(other(aud="elsewhere")),
        "wrong issuer": bearer(other(iss="someone-else")),
        "foreign key": bearer(foreign),
        "unknown user": bearer(unknown_user),
    }
    for name, headers in cases.items():
        response = await client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith(PROBLEM), name
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200


async def test_signup_and_login_tokens_verify_with_the_configured_public_key(client, jwt_keys: JwtKeys):
    body = await signup(client, "verify@example.test")
    verifier = TokenVerifier(public_key_pem=jwt_keys.public_pem, issuer="helpdesk-auth", audience="helpdesk")
    principal = verifier.verify(body["token"])
    assert str(principal.id) == body["user"]["id"]
    assert principal.role == "user"
