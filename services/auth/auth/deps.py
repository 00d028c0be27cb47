"""FastAPI dependencies of the auth routes: the unit of work, the resources, the caller."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import Depends, Request
from shared.auth import AdminPrincipal, CurrentPrincipal
from shared.clientip import Network, parse_networks
from shared.clientip import client_address as client_address_behind
from shared.deps import SessionDep
from shared.jwt import TokenIssuer
from shared.problems import ProblemError
from shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth import service
from auth.models import User
from auth.passwords import Passwords
from auth.settings import AuthSettings


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return get_runtime(request).sessions


async def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords  # type: ignore[no-any-return]


async def get_token_issuer(request: Request) -> TokenIssuer:
    return request.app.state.token_issuer  # type: ignore[no-any-return]


async def get_settings(request: Request) -> AuthSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
IssuerDep = Annotated[TokenIssuer, Depends(get_token_issuer)]
SettingsDep = Annotated[AuthSettings, Depends(get_settings)]


async def current_user(session: SessionDep, principal: CurrentPrincipal) -> User:
    """The caller's account, checked against the database (disabled, revoked → 401)."""
    return await service.authenticated_user(session=session, principal=principal)


async def admin_user(session: SessionDep, principal: AdminPrincipal) -> User:
    """The caller, who must be an admin by token and still by the database."""
    user = await service.authenticated_user(session=session, principal=principal)
    if user.role != "admin":
        raise ProblemError(403, "Your role may not use this route.")
    return user


async def client_address(request: Request, settings: SettingsDep) -> str:
    """The caller's address: X-Forwarded-For counts only when a trusted proxy (the gateway) sent it."""
    peer = request.client.host if request.client else None
    return client_address_behind(peer, request.headers.get("x-forwarded-for"), trusted_networks(settings))


@functools.cache
def _networks(value: str) -> tuple[Network, ...]:
    return parse_networks(value)


def trusted_networks(settings: AuthSettings) -> tuple[Network, ...]:
    return _networks(settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(client_address)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
