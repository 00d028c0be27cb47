"""FastAPI dependencies that authenticate the caller from the forwarded bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from shared.events import STAFF_ROLES
from shared.jwt import CachingVerifier, InvalidTokenError, Principal, TokenVerifier
from shared.problems import ProblemError


def unauthorized(detail: str = "Missing or invalid access token.") -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def token_verifier(request: Request) -> TokenVerifier | CachingVerifier:
    """The app's verifier: the caching one create_service_app makes, else a plain one."""
    state = request.app.state
    verifier = getattr(state, "cached_verifier", None) or getattr(state, "token_verifier", None)
    if verifier is None:
        raise ProblemError(503, "Token verification is not configured.")
    return verifier  # type: ignore[no-any-return]


async def current_principal(request: Request) -> Principal:
    """The verified caller; 401 for a missing, expired, tampered or foreign token.

    The header is read here rather than by FastAPI's `HTTPBearer` (a sub-dependency solved for
    every request, a tenth of a create's dependency work); the public OpenAPI document's bearer
    scheme comes from the gateway's route table (gateway/openapi.py).
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    try:
        principal = token_verifier(request).verify(token)
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc
    revocations = getattr(request.app.state, "revocations", None)
    if revocations is None:
        revocations = getattr(getattr(request.app.state, "runtime", None), "revocations", None)
    if revocations is not None and revocations.revoked(principal):
        # the user was demoted or disabled after this token was issued (shared.revocations)
        raise unauthorized("The token was issued before a change to this account; sign in again.")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller has one of `roles`."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise ProblemError(403, "Your role may not use this route.")
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
StaffPrincipal = Annotated[Principal, Depends(require_role(*STAFF_ROLES))]
