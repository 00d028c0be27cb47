"""Business rules of auth: accounts, login throttling, roles, revocation, the first admin.

Functions are keyword-only and never commit: the request dependency does (so a user row and
its event in the outbox commit together). `login` is the one exception, and says why.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.auth import unauthorized
from shared.db import transaction
from shared.deps import wake_relay_after_commit
from shared.events import UserRegistered, UserUpdated
from shared.jwt import (
    InvalidTokenError,
    Principal,
    TokenIssuer,
    issue_purpose_token,
    verify_purpose_token,
)
from shared.outbox import add_event
from shared.pagination import decode_cursor, fetch_limit, keyset_page
from shared.problems import ProblemError, conflict, not_found
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth import repository
from auth.models import User, outbox
from auth.password_policy import password_problem
from auth.passwords import Passwords
from auth.schemas import TokenOut, UpdateUserIn, UserPage, UserRead
from auth.settings import AuthSettings

ROLE_RANK = {"user": 0, "moderator": 1, "admin": 2}
INVALID_CREDENTIALS = "Invalid email or password."
MAX_THROTTLE_KEY = 320


def _now() -> datetime:
    return datetime.now(UTC)


def default_name(email: str) -> str:
    return email.split("@", 1)[0][:100]


def issue_token(*, issuer: TokenIssuer, user: User) -> TokenOut:
    """A fresh access token for `user`, in the shape signup and login answer with."""
    token = issuer.issue(user_id=user.id, role=user.role, email=user.email, name=user.name)
    return TokenOut(token=token, expires_in=int(issuer.ttl.total_seconds()), user=UserRead.model_validate(user))


# --- events ---------------------------------------------------------------------------------


async def publish(session: AsyncSession, event: UserRegistered | UserUpdated) -> None:
    """Put `event` in the outbox, in the caller's transaction."""
    await add_event(session, outbox, event)
    wake_relay_after_commit(session)


def registered_event(user: User) -> UserRegistered:
    return UserRegistered(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        skills=list(user.skills),
        created_at=user.created_at,
        email_verified=user.email_verified,
    )


def updated_event(user: User, changed: list[str]) -> UserUpdated:
    return UserUpdated(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        skills=list(user.skills),
        active=user.active,
        tokens_valid_after=user.tokens_valid_after,
        changed=changed,
        revision=user.revision,
        email_verified=user.email_verified,
    )


# --- accounts -------------------------------------------------------------------------------


async def signup(
    *,
    session: AsyncSession,
    passwords: Passwords,
    email: str,
    password: str,
    name: str | None,
    address: str = "unknown",
    address_limit: int = 0,
    window: timedelta = timedelta(hours=1),
    settings: AuthSettings | None = None,
) -> User:
    """Create an unverified `user` account (never another role) and announce it with the token
    of its verification link (with `settings`' key); 429 past the address's limit."""
    problem = password_problem(password, email=email, name=name)
    if problem is not None:
        raise ProblemError(422, f"password: {problem}", errors=[{"loc": ["body", "password"], "msg": problem}])
    signup_key = f"signup:{address}"
    if address_limit:
        until, db_now = await repository.blocked_until(session, [signup_key])
        if until is not None:
            raise ProblemError(
                429,
                "Too many accounts were created from this address; try again later.",
                headers={"Retry-After": str(max(1, math.ceil((until - db_now).total_seconds())))},
            )
    # hashed before touching the database: no connection is held while argon2 runs
    password_hash = await passwords.hash(password)
    if await repository.get_by_email(session, email) is not None:
        raise conflict("An account with this email already exists.")
    try:
        user = await repository.add(
            session,
            User(email=email, name=name or default_name(email), role="user", skills=[], password_hash=password_hash),
        )
    except IntegrityError as exc:  # the same email signed up at the same instant
        raise conflict("An account with this email already exists.") from exc
    if address_limit:
        # the login counters' table, keyed apart: signups from this address, forgotten after a
        # quiet window; the limit-th closes the address for a window
        created, db_now = await repository.record_login_failure(session, signup_key, window=window)
        if created >= address_limit:
            await repository.delay_logins(session, signup_key, until=db_now + window)
    event = registered_event(user)
    token = verification_token(settings, user) if settings is not None else None
    if token is not None:
        event = event.model_copy(update={"verification_token": token})
    await publish(session, event)
    return user


# --- email verification ---------------------------------------------------------------------

EMAIL_VERIFY_AUDIENCE = "helpdesk-email-verify"
EMAIL_VERIFY_TTL = timedelta(days=3)
# the verification mail again: this many per account per window, then 429 until it ends
RESEND_LIMIT = 3
RESEND_WINDOW = timedelta(hours=1)
INVALID_LINK = "This link is invalid or has expired."


def verification_token(settings: AuthSettings, user: User) -> str | None:
    """The token of `user`'s verification link: its own audience (never an access or password
    token), 3 days; None without a signing key."""
    private_key = settings.private_key_pem
    if not private_key:
        return None
    return issue_purpose_token(
        private_key_pem=private_key,
        issuer=settings.jwt_issuer,
        audience=EMAIL_VERIFY_AUDIENCE,
        user_id=user.id,
        ttl=EMAIL_VERIFY_TTL,
    )


async def _mark_verified(session: AsyncSession, user: User, changed: list[str]) -> None:
    user.email_verified = True
    user.revision += 1
    await session.flush()
    await publish(session, updated_event(user, changed))


async def _user_of_link(
    session: AsyncSession, settings: AuthSettings, token: str, *, audience: str, for_update: bool = False
) -> User | None:
    """The account a mailed link (a purpose token of `audience`) names; 400 for a forged, expired
    or other-purpose token."""
    try:
        user_id = verify_purpose_token(
            token,
            public_key_pem=settings.jwt_public_key or "",
            issuer=settings.jwt_issuer,
            audience=audience,
        )
    except InvalidTokenError as exc:
        raise ProblemError(400, INVALID_LINK) from exc
    return await repository.get_by_id(session, user_id, for_update=for_update)


async def verify_email(*, session: AsyncSession, settings: AuthSettings, token: str) -> User:
    """Mark the account a verification link names as verified (once; again is a no-op); 400 for
    a forged, expired or other-purpose token or a disabled account."""
    user = await _user_of_link(session, settings, token, audience=EMAIL_VERIFY_AUDIENCE, for_update=True)
    if user is None or not user.active:
        raise ProblemError(400, INVALID_LINK)
    if not user.email_verified:
        await _mark_verified(session, user, ["email_verified"])
    return user


async def resend_verification(*, session: AsyncSession, settings: AuthSettings, user: User) -> None:
    """Announce a fresh verification link for the caller's unverified account (the notifier mails
    it); 409 when already verified, 429 past RESEND_LIMIT per RESEND_WINDOW."""
    if user.email_verified:
        raise conflict("This email address is already verified.")
    key = f"verify:{user.id}"
    until, db_now = await repository.blocked_until(session, [key])
    if until is not None:
        raise ProblemError(
            429,
            "The verification mail was sent several times already; try again later.",
            headers={"Retry-After": str(max(1, math.ceil((until - db_now).total_seconds())))},
        )
    token = verification_token(settings, user)
    if token is None:
        raise ProblemError(503, "Verification mails cannot be signed right now.")
    sent, db_now = await repository.record_login_failure(session, key, window=RESEND_WINDOW)
    if sent >= RESEND_LIMIT:
        await repository.delay_logins(session, key, until=db_now + RESEND_WINDOW)
    # a request, not a change: the revision stays, so no consumer mistakes it for newer data
    event = updated_event(user, ["verification_requested"]).model_copy(update={"verification_token": token})
    await publish(session, event)


# an argon2 verify of this always fails: the account has no password until its owner sets one
NO_PASSWORD = "!no-password"  # noqa: S105 - a marker, not a secret


PASSWORD_SETUP_AUDIENCE = "helpdesk-password-setup"  # noqa: S105 - a JWT audience
PASSWORD_SETUP_TTL = timedelta(days=7)


async def requester_for(
    *, session: AsyncSession, email: str, name: str | None, settings: AuthSettings
) -> tuple[User, bool]:
    """The account of a support mail's sender; a new passwordless `user` when there is none.

    A new account's user.registered carries a password-setup token (its own audience, 7 days,
    good only while the account has no password): the welcome mail links to it.
    """
    existing = await repository.get_by_email(session, email)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            user = await repository.add(
                session,
                User(email=email, name=name or default_name(email), role="user", skills=[], password_hash=NO_PASSWORD),
            )
    except IntegrityError:  # a mail from the same sender was handled at the same instant
        raced = await repository.get_by_email(session, email)
        if raced is None:
            raise
        return raced, False
    event = registered_event(user)
    private_key = settings.private_key_pem
    if private_key:
        token = issue_purpose_token(
            private_key_pem=private_key,
            issuer=settings.jwt_issuer,
            audience=PASSWORD_SETUP_AUDIENCE,
            user_id=user.id,
            ttl=PASSWORD_SETUP_TTL,
        )
        event = event.model_copy(update={"password_setup_token": token})
    await publish(session, event)
    return user, True


async def set_first_password(
    *, session: AsyncSession, passwords: Passwords, settings: AuthSettings, token: str, password: str
) -> User:
    """Set the password of an account made from a mail, with the link its welcome mail carried."""
    user = await _user_of_link(session, settings, token, audience=PASSWORD_SETUP_AUDIENCE)
    # one use: once any password is set, the link is spent
    if user is None or user.password_hash != NO_PASSWORD or not user.active:
        raise ProblemError(400, INVALID_LINK)
    problem = password_problem(password, email=user.email, name=user.name)
    if problem is not None:
        raise ProblemError(422, f"password: {problem}", errors=[{"loc": ["body", "password"], "msg": problem}])
    password_hash = await passwords.hash(password)
    user.password_hash = password_hash
    # the link came to the mailbox: whoever used it owns the address
    if user.email_verified:
        await session.flush()
    else:
        await _mark_verified(session, user, ["email_verified"])
    return user


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How failed logins slow the next ones down (AuthSettings.login_*)."""

    max_failures: int  # per account from one address: the failure that starts the delays
    address_max_failures: int  # per address across accounts: the same
    max_delay: timedelta
    window: timedelta  # failures are forgotten after this long without one

    def delay(self, failures: int, limit: int) -> timedelta | None:
        """None below `limit` failures; then 1 s, doubling with each further one up to `max_delay`."""
        if failures < limit:
            return None
        return min(self.max_delay, timedelta(seconds=2 ** min(failures - limit, 30)))


def _throttled(until: datetime, db_now: datetime) -> ProblemError:
    retry_after = max(1, math.ceil((until - db_now).total_seconds()))
    return ProblemError(
        429,
        "Too many failed logins from this address; try again later.",
        headers={"Retry-After": str(retry_after)},
    )


async def login(
    *,
    sessions: async_sessionmaker[AsyncSession],
    passwords: Passwords,
    email: str,
    password: str,
    address: str,
    limits: LoginLimits,
) -> User:
    """The user these credentials belong to; 401 otherwise, 429 while this address must wait.

    Failures are counted per account *from this address* and per address across accounts, and
    past a few free ones each adds a growing delay; nothing locks the account itself, so guesses
    from elsewhere never keep its owner (with the right password, from their own address) out.
    Unlike the other functions this one commits, in short transactions of its own: a failure
    must be counted (and seen by every process) whatever the answer, and no connection should be
    held while argon2 runs. The delay is read again after the password check, so a burst of
    parallel guesses learns nothing once one of them started a delay.
    """
    # lower() can lengthen some characters; no real address is anywhere near the column's size
    account = email.strip().lower()[:MAX_THROTTLE_KEY]
    pair_key, address_key = f"acct:{account}|{address}", f"addr:{address}"
    keys = [pair_key, address_key]
    async with transaction(sessions) as session:
        until, db_now = await repository.blocked_until(session, keys)
        user = await repository.get_by_email(session, account) if until is None else None
    if until is not None:
        raise _throttled(until, db_now)
    # an unknown email is checked against a dummy hash, so it takes as long as a wrong password
    matched = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not matched or not user.active:
        async with transaction(sessions) as session:
            for key, limit in ((pair_key, limits.max_failures), (address_key, limits.address_max_failures)):
                failures, db_now = await repository.record_login_failure(session, key, window=limits.window)
                delay = limits.delay(failures, limit)
                if delay is not None:
                    await repository.delay_logins(session, key, until=db_now + delay)
        raise ProblemError(401, INVALID_CREDENTIALS)
    new_hash = await passwords.hash(password) if passwords.needs_rehash(user.password_hash) else None
    async with transaction(sessions) as session:
        until, db_now = await repository.blocked_until(session, keys)
        if until is not None:
            raise _throttled(until, db_now)
        # the address's count stays: logging into one's own account must not wipe the failures
        # the same address made against others
        await repository.clear_login_attempts(session, pair_key)
        if new_hash is not None:
            await repository.replace_password_hash(session, user.id, old=user.password_hash, new=new_hash)
    return user


async def authenticated_user(*, session: AsyncSession, principal: Principal) -> User:
    """The caller's account; 401 when it is gone, disabled, or the token predates a revocation."""
    user = await repository.get_by_id(session, principal.id)
    if user is None or not user.active:
        raise unauthorized()
    if user.tokens_valid_after is not None and principal.issued_at < user.tokens_valid_after:
        raise unauthorized("The token has been revoked; log in again.")
    return user


async def list_users(
    *, session: AsyncSession, role: str | None, q: str | None, limit: int, cursor: str | None
) -> UserPage:
    """One page of users, newest first, with the cursor of the next page."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_users(session, role=role, q=q or None, after=after, limit=fetch_limit(limit))
    items, next_cursor = keyset_page(rows, limit)
    return UserPage(items=[UserRead.model_validate(u) for u in items], next_cursor=next_cursor)


async def update_user(*, session: AsyncSession, changes: UpdateUserIn) -> User:
    """Apply an admin's change of role, skills or active flag; revoke tokens when rights shrink."""
    if changes.role is not None or changes.active is not None:
        # every change that could remove an admin runs one at a time, so two admins demoting
        # each other at once cannot leave the system without one
        await repository.lock_admins(session)
    user = await repository.get_by_email(session, changes.email, for_update=True)
    if user is None:
        raise not_found("user")
    new_role = changes.role if changes.role is not None else user.role
    new_active = changes.active if changes.active is not None else user.active
    if ROLE_RANK[new_role] > ROLE_RANK[user.role] and not user.email_verified:
        # whoever registers a future staff address first must not get that person's promotion
        raise ProblemError(
            409,
            "This account's email address is not verified; it cannot be given a staff role.",
        )
    if (
        user.role == "admin"
        and user.active
        and (new_role != "admin" or not new_active)
        and await repository.count_active_admins(session) <= 1
    ):
        raise conflict("This change would leave no active admin.")

    changed: list[str] = []
    revoke = False
    if new_role != user.role:
        revoke = ROLE_RANK[new_role] < ROLE_RANK[user.role]
        user.role = new_role
        changed.append("role")
    if changes.skills is not None and changes.skills != user.skills:
        user.skills = changes.skills
        changed.append("skills")
    if new_active != user.active:
        revoke = revoke or not new_active
        user.active = new_active
        changed.append("active")
    if not changed:
        return user
    user.revision += 1
    if revoke:
        user.tokens_valid_after = _now()
    await session.flush()
    await publish(session, updated_event(user, changed))
    return user


async def revocations(*, session: AsyncSession, since: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """Users whose tokens issued before some instant after `since` are no longer valid."""
    return await repository.revocations_since(session, since)


async def bootstrap_admin(*, session: AsyncSession, email: str, password_hash: str) -> User | None:
    """Make `email` the first admin when no active admin exists; None when one already does.

    Runs under the admin lock, so several processes starting at once create it once. If the
    address already belongs to an account (someone signed up with it first), the bootstrap
    credentials win: it becomes admin with the bootstrap password and its old tokens die.
    """
    await repository.lock_admins(session)
    if await repository.count_active_admins(session) > 0:
        return None
    user = await repository.get_by_email(session, email, for_update=True)
    if user is None:
        # the deployer chose the address: nobody else could have registered it
        user = await repository.add(
            session,
            User(
                email=email,
                name=default_name(email),
                role="admin",
                skills=[],
                password_hash=password_hash,
                email_verified=True,
            ),
        )
        await publish(session, registered_event(user))
        return user
    changed = [
        field
        for field, differs in (
            ("role", user.role != "admin"),
            ("active", not user.active),
            ("email_verified", not user.email_verified),
        )
        if differs
    ]
    user.role = "admin"
    user.active = True
    user.email_verified = True
    user.password_hash = password_hash
    user.tokens_valid_after = _now()
    user.revision += 1
    await session.flush()
    await publish(session, updated_event(user, changed or ["password"]))
    return user


async def any_active_admin(*, session: AsyncSession) -> bool:
    return await repository.count_active_admins(session) > 0
