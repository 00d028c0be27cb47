"""The moderator/admin directory: triage's copy of auth's staff, and who they are to assignment."""

from __future__ import annotations

from shared.events import STAFF_ROLES, Assignee, StaffRole, UserRegistered, UserUpdated
from shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from triage import repository
from triage.assignment import StaffMember
from triage.models import Staff
from triage.skills import clean_skills

log = get_logger(__name__)


async def apply_user(*, session: AsyncSession, event: UserRegistered | UserUpdated) -> None:
    """Keep the moderator/admin directory in step with auth; users never get tickets."""
    row = await repository.get_staff_for_update(session, event.user_id)
    revision = event.revision if isinstance(event, UserUpdated) else 0
    active = event.active if isinstance(event, UserUpdated) else True
    is_staff = event.role in STAFF_ROLES and active
    if row is None:
        if not is_staff:
            return
        session.add(
            Staff(
                user_id=event.user_id,
                email=event.email,
                name=event.name,
                role=event.role,
                skills=list(clean_skills(event.skills)),
                active=True,
                open_count=0,
                revision=revision,
            )
        )
        return
    if isinstance(event, UserUpdated) and revision and revision < row.revision:
        log.info("user_update_stale", user_id=str(event.user_id))
        return
    row.email = event.email
    row.name = event.name
    row.role = event.role
    row.skills = list(clean_skills(event.skills))
    row.active = is_staff
    row.revision = max(row.revision, revision)


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
