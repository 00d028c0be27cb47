"""The callers the service writes into `people` (who assignees can be), and what it last wrote."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import replace

from shared.jwt import Principal
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import repository


def storable(principal: Principal) -> Principal:
    """The caller with a name and email Postgres can store (text and jsonb refuse NUL)."""
    if "\x00" not in principal.name and "\x00" not in principal.email:
        return principal
    return replace(principal, name=principal.name.replace("\x00", ""), email=principal.email.replace("\x00", ""))


# What this process last wrote to `people`, so a caller's every write does not rewrite them.
# Rows are never deleted, so a remembered tuple can only be stale by being older (then rewritten).
_written_people: OrderedDict[uuid.UUID, tuple[str, str, str]] = OrderedDict()
_WRITTEN_PEOPLE_MAX = 10_000


def known(principal: Principal) -> tuple[str, str, str]:
    return (principal.name, principal.email, principal.role)


def needs_writing(principal: Principal) -> bool:
    """True unless this process already wrote the caller as their token names them."""
    return _written_people.get(principal.id) != known(principal)


async def remember_caller(session: AsyncSession, principal: Principal, *, force: bool = False) -> None:
    if not force and not needs_writing(principal):
        _written_people.move_to_end(principal.id)
        return
    await repository.remember_person(
        session,
        person_id=principal.id,
        name=principal.name,
        email=principal.email,
        role=principal.role,
    )
    note_written(principal)


def note_written(principal: Principal) -> None:
    # exact only once the transaction commits; a rollback merely costs one missed upsert,
    # which the next write by a changed token or a forced one repairs
    _written_people[principal.id] = known(principal)
    while len(_written_people) > _WRITTEN_PEOPLE_MAX:
        _written_people.popitem(last=False)
