"""Every query of the auth service."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import LoginThrottle, User

# one key for every change that could leave the system without an admin (and for bootstrap)
ADMIN_LOCK_KEY = 0x6175_7468_0001  # "auth" 1


async def lock_admins(session: AsyncSession) -> None:
    """Serialise, across processes, the transactions that may remove or create the first admin."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMIN_LOCK_KEY})


async def get_by_email(session: AsyncSession, email: str, *, for_update: bool = False) -> User | None:
    query = select(User).where(User.email == email)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_by_id(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    return await session.get(User, user_id, with_for_update=for_update)


async def count_active_admins(session: AsyncSession) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))
        or 0
    )


async def add(session: AsyncSession, user: User) -> User:
    """Insert `user` now (so a taken email fails here) and load its server defaults."""
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def list_users(
    session: AsyncSession,
    *,
    role: str | None,
    q: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[User]:
    """Newest first by (created_at, id), strictly after the cursor position."""
    query = select(User)
    if role:
        query = query.where(User.role == role)
    if q:
        pattern = "%" + _escape_like(q) + "%"
        query = query.where(or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\")))
    if after is not None:
        query = query.where(tuple_(User.created_at, User.id) < tuple_(*after))
    query = query.order_by(User.created_at.desc(), User.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def revocations_since(session: AsyncSession, since: datetime) -> list[tuple[uuid.UUID, datetime]]:
    rows = await session.execute(
        select(User.id, User.tokens_valid_after)
        .where(User.tokens_valid_after.is_not(None), User.tokens_valid_after > since)
        .order_by(User.tokens_valid_after)
    )
    return [(row[0], row[1]) for row in rows if row[1] is not None]


async def replace_password_hash(session: AsyncSession, user_id: uuid.UUID, *, old: str, new: str) -> None:
    """Store a rehash, unless the hash changed meanwhile."""
    await session.execute(update(User).where(User.id == user_id, User.password_hash == old).values(password_hash=new))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- login throttling -----------------------------------------------------------------------


async def blocked_until(session: AsyncSession, keys: list[str]) -> tuple[datetime | None, datetime]:
    """The latest instant until which any of `keys` is delayed (None: none is), and the database's now."""
    row = (
        await session.execute(
            select(func.max(LoginThrottle.blocked_until), func.now()).where(
                LoginThrottle.key.in_(keys), LoginThrottle.blocked_until > func.now()
            )
        )
    ).one()
    return row[0], row[1]


async def record_login_failure(session: AsyncSession, key: str, *, window: timedelta) -> tuple[int, datetime]:
    """Count one failure for `key` (from 1 again after a quiet window), atomically: the count, now."""
    now = func.now()
    forgotten = LoginThrottle.last_failed_at <= now - window
    statement = (
        insert(LoginThrottle)
        .values(key=key, attempts=1, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "attempts": case((forgotten, 1), else_=LoginThrottle.attempts + 1),
                "last_failed_at": now,
                "blocked_until": case((forgotten, None), else_=LoginThrottle.blocked_until),
            },
        )
        .returning(LoginThrottle.attempts, func.now())
    )
    row = (await session.execute(statement)).one()
    return int(row[0]), row[1]


async def delay_logins(session: AsyncSession, key: str, *, until: datetime) -> None:
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(blocked_until=func.greatest(func.coalesce(LoginThrottle.blocked_until, until), until))
    )


async def clear_login_attempts(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


async def purge_login_attempts(session: AsyncSession, *, window: timedelta) -> int:
    result = await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_at <= func.now() - window,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= func.now()),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
