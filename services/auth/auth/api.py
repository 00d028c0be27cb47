"""Routes of the auth service (API.md, Auth) and its internal route for the gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime
from shared.deps import SessionDep
from shared.jwt import RoleName

from auth import service
from auth.deps import (
    AdminUser,
    ClientAddress,
    CurrentUser,
    IssuerDep,
    PasswordsDep,
    SessionsDep,
    SettingsDep,
)
from auth.schemas import (
    LoginIn,
    PlainText,
    RequesterIn,
    RequesterOut,
    Revocation,
    RevocationList,
    SetPasswordIn,
    SignupIn,
    TokenOut,
    UpdateUserIn,
    UserPage,
    UserRead,
    VerificationSent,
    VerifyEmailIn,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])
# Not part of the public API: the gateway never forwards /internal/*, and it stays out of OpenAPI.
internal_router = APIRouter(prefix="/internal", include_in_schema=False)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# answers that carry a token must not be kept by a browser or a proxy
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _no_store(response: Response) -> None:
    response.headers.update(NO_STORE)


@router.post("/signup", status_code=201, dependencies=[Depends(_no_store)])
async def signup(
    body: SignupIn,
    session: SessionDep,
    passwords: PasswordsDep,
    issuer: IssuerDep,
    settings: SettingsDep,
    address: ClientAddress,
) -> TokenOut:
    """Create a user account and return an access token for it."""
    user = await service.signup(
        session=session,
        passwords=passwords,
        email=body.email,
        password=body.password,
        name=body.name,
        address=address,
        address_limit=settings.signup_address_limit,
        window=timedelta(seconds=settings.signup_window_s),
        settings=settings,
    )
    return service.issue_token(issuer=issuer, user=user)


@router.post("/login", dependencies=[Depends(_no_store)])
async def login(
    body: LoginIn,
    sessions: SessionsDep,
    passwords: PasswordsDep,
    issuer: IssuerDep,
    settings: SettingsDep,
    address: ClientAddress,
) -> TokenOut:
    """Exchange an email and password for an access token."""
    user = await service.login(
        sessions=sessions,
        passwords=passwords,
        email=body.email,
        password=body.password,
        address=address,
        limits=service.LoginLimits(
            max_failures=settings.login_max_failures,
            address_max_failures=settings.login_address_max_failures,
            max_delay=timedelta(seconds=settings.login_max_delay_s),
            window=timedelta(seconds=settings.login_window_s),
        ),
    )
    return service.issue_token(issuer=issuer, user=user)


@router.post("/set-password")
async def set_password(
    body: SetPasswordIn, session: SessionDep, passwords: PasswordsDep, issuer: IssuerDep, settings: SettingsDep
) -> TokenOut:
    """Set the first password of an account opened by mail (the welcome mail's link) and sign in."""
    user = await service.set_first_password(
        session=session, passwords=passwords, settings=settings, token=body.token, password=body.password
    )
    return service.issue_token(issuer=issuer, user=user)


@router.post("/verify")
async def verify_email(body: VerifyEmailIn, session: SessionDep, settings: SettingsDep) -> UserRead:
    """Mark the account a verification link names as verified (the link of the verification mail)."""
    user = await service.verify_email(session=session, settings=settings, token=body.token)
    return UserRead.model_validate(user)


@router.post("/resend-verification", status_code=202)
async def resend_verification(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> VerificationSent:
    """Mail the caller's verification link again (3 an hour); 409 when already verified."""
    await service.resend_verification(session=session, settings=settings, user=user)
    return VerificationSent()


@router.get("/me")
async def me(user: CurrentUser) -> UserRead:
    """The caller's own account."""
    return UserRead.model_validate(user)


@router.get("/users")
async def list_users(
    _: AdminUser,
    session: SessionDep,
    role: RoleName | None = None,
    q: Annotated[PlainText | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> UserPage:
    """List users, newest first (admin); filter by role and by text in email or name."""
    return await service.list_users(session=session, role=role, q=q, limit=limit, cursor=cursor)


@router.post("/update-user")
async def update_user(body: UpdateUserIn, _: AdminUser, session: SessionDep) -> UserRead:
    """Change a user's role, skills or active flag (admin)."""
    user = await service.update_user(session=session, changes=body)
    return UserRead.model_validate(user)


@internal_router.get("/revocations")
async def revocations(session: SessionDep, since: AwareDatetime | None = None) -> RevocationList:
    """Users whose tokens_valid_after is later than `since` (for the gateway at start-up)."""
    rows = await service.revocations(session=session, since=since or EPOCH)
    return RevocationList(items=[Revocation(user_id=uid, tokens_valid_after=at) for uid, at in rows])


@internal_router.post("/requesters")
async def requester(body: RequesterIn, session: SessionDep, settings: SettingsDep) -> RequesterOut:
    """The account of a support mail's sender, made (passwordless, role user) when missing."""
    user, created = await service.requester_for(session=session, email=body.email, name=body.name, settings=settings)
    return RequesterOut(user=UserRead.model_validate(user), created=created)
