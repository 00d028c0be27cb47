"""Ed25519 (EdDSA) access tokens: auth signs, everyone else verifies; the algorithm is pinned."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.events import ROLES, STAFF_ROLES, Role

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
RoleName = Role


def _pem(text: str) -> bytes:
    # keys often arrive through environment variables with literal "\n"
    return text.replace("\\n", "\n").strip().encode()


def load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_pem(pem))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key must be Ed25519")
    return key


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the private key must be Ed25519")
    return key


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a request."""

    id: uuid.UUID
    role: RoleName
    email: str
    name: str
    issued_at: datetime
    token_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class InvalidTokenError(Exception):
    """Any reason a token is not accepted; the message is safe to show."""


class TokenVerifier:
    """Verifies access tokens against a public key, issuer and audience."""

    def __init__(self, *, public_key_pem: str, issuer: str, audience: str, leeway_s: int = 5) -> None:
        self._key = load_public_key(public_key_pem)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s

    def verify(self, token: str) -> Principal:
        try:
            claims = pyjwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except pyjwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("The token has expired.") from exc
        except pyjwt.PyJWTError as exc:
            raise InvalidTokenError("The token is not valid.") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidTokenError("The token is not valid.")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError as exc:
            raise InvalidTokenError("The token is not valid.") from exc
        return Principal(
            id=user_id,
            role=role,
            email=str(claims.get("email", "")),
            name=str(claims.get("name", "")),
            issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
            token_id=str(claims["jti"]),
        )


class CachingVerifier:
    """A `TokenVerifier` with a small cache: the same token text is verified once, until its `exp`.

    The signature check and PyJWT's parsing were about a fifth of a service's CPU per request,
    paid again for each request of the same caller. The key is the exact token text, so a
    changed byte is a miss and gets the full check; revocation is checked per request, outside.
    """

    def __init__(self, verifier: TokenVerifier, *, max_entries: int = 10_000) -> None:
        self._verifier = verifier
        self._max = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        entry = self._entries.get(token)
        if entry is not None:
            principal, expires = entry
            if time.time() < expires:
                return principal
            del self._entries[token]
        principal = self._verifier.verify(token)
        expiry = _expiry(token)
        if expiry is not None:
            if len(self._entries) >= self._max:
                # oldest first (dicts keep insertion order): cheap and bounded
                del self._entries[next(iter(self._entries))]
            self._entries[token] = (principal, expiry)
        return principal


def _expiry(token: str) -> float | None:
    """`exp` of a token the verifier has just accepted (so the payload is well formed)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class TokenIssuer:
    """Signs access tokens (used by auth only)."""

    def __init__(
        self, *, private_key_pem: str, issuer: str, audience: str, ttl: timedelta = timedelta(minutes=15)
    ) -> None:
        self._key = load_private_key(private_key_pem)
        self._issuer = issuer
        self._audience = audience
        self.ttl = ttl

    def issue(self, *, user_id: uuid.UUID, role: str, email: str, name: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role,
            "email": email,
            "name": name,
            "iss": self._issuer,
            "aud": self._audience,
            # iat keeps sub-second precision so a token minted right after a role change
            # is not mistaken for one issued before it
            "iat": now.timestamp(),
            "exp": int((now + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return pyjwt.encode(claims, self._key, algorithm=ALGORITHM)


def issue_purpose_token(*, private_key_pem: str, issuer: str, audience: str, user_id: uuid.UUID, ttl: timedelta) -> str:
    """A token for one purpose other than API access (its own audience: never an access token)."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return pyjwt.encode(claims, load_private_key(private_key_pem), algorithm=ALGORITHM)


def verify_purpose_token(token: str, *, public_key_pem: str, issuer: str, audience: str) -> uuid.UUID:
    """The user a purpose token names; InvalidTokenError when forged, expired or for another purpose."""
    try:
        claims = pyjwt.decode(
            token,
            load_public_key(public_key_pem),
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
        return uuid.UUID(str(claims["sub"]))
    except (pyjwt.PyJWTError, ValueError) as exc:
        raise InvalidTokenError("invalid or expired link") from exc
