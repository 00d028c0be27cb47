"""The moderator/admin directory: triage's copy of auth's staff, and who they are to assignment."""

from __future__ import annotations

from shared.events import STAFF_ROLES, Assignee, StaffRole, UserRegistered, UserUpdated
from shared.logging import get_logger
from shared.usercopy import apply_revision, revision_of
from sqlalchemy.ext.asyncio import AsyncSession

from triage.assignment import StaffMember
from triage.models import Staff
from triage.skills import clean_skills

log = get_logger(__name__)


async def apply_user(*, session: AsyncSession, event: UserRegistered | UserUpdated) -> None:
    """Keep the moderator/admin directory in step with auth; users never get tickets."""
    active = event.active if isinstance(event, UserUpdated) else True
    is_staff = event.role in STAFF_ROLES and active
    values = {
        "user_id": event.user_id,
        "email": event.email,
        "name": event.name,
        "role": event.role,
        "skills": list(clean_skills(event.skills)),
        "active": is_staff,
    }
    # someone who is not staff is not added; a copy that exists learns they no longer are
    applied = await apply_revision(
        session, Staff.__table__, key="user_id", values=values, revision=revision_of(event), insert_missing=is_staff
    )
    if not applied and is_staff:
        log.info("user_update_stale", user_id=str(event.user_id))


def member(row: Staff, default_capacity: int) -> StaffMember:
    """A staff row as assignment sees it (admins have no capacity limit)."""
    return StaffMember(
        user_id=row.user_id,
        role="admin" if row.role == "admin" else "moderator",
        name=row.name,
        skills=tuple(row.skills or ()),
        open_count=row.open_count,
        capacity=None if row.role == "admin" else (row.capacity or default_capacity),
    )


def assignee(row: Staff) -> Assignee:
    """A staff row as events name an assignee."""
    role: StaffRole = "admin" if row.role == "admin" else "moderator"
    return Assignee(id=row.user_id, name=row.name, email=row.email, role=role)
