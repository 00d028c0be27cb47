"""The callers the service writes into `people` (who assignees can be), and what it last wrote."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import replace

from shared.jwt import Principal
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import repository


def storable(principal: Principal) -> Principal:
    """The caller with a name and email Postgres can store (text and jsonb refuse NUL)."""
    if "\x00" not in principal.name and "\x00" not in principal.email:
        return principal
    return replace(principal, name=principal.name.replace("\x00", ""), email=principal.email.replace("\x00", ""))


WRITTEN = "tickets.written_people"


class WrittenPeople:
    """What this process last wrote to `people`, so a caller's every write does not rewrite them.

    Rows are never deleted, so a remembered tuple can only be stale by being older (then rewritten).
    One per process: app.py hands it to every session through the sessionmakers' `info`.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._rows: OrderedDict[uuid.UUID, tuple[str, str, str]] = OrderedDict()
        self._limit = limit

    def needs_writing(self, principal: Principal) -> bool:
        return self._rows.get(principal.id) != known(principal)

    def touch(self, principal: Principal) -> None:
        self._rows.move_to_end(principal.id)

    def note(self, principal: Principal) -> None:
        self._rows[principal.id] = known(principal)
        while len(self._rows) > self._limit:
            self._rows.popitem(last=False)


def remember_written(*makers: async_sessionmaker[AsyncSession]) -> None:
    """Give the sessions of `makers` one record of what this process wrote (call once, at start)."""
    written = WrittenPeople()
    for maker in makers:
        maker.configure(info={WRITTEN: written})


def _written(session: AsyncSession) -> WrittenPeople:
    # a session from another sessionmaker (a test's, say) has no record: it always writes
    found = session.info.get(WRITTEN)
    return found if isinstance(found, WrittenPeople) else WrittenPeople()


def known(principal: Principal) -> tuple[str, str, str]:
    return (principal.name, principal.email, principal.role)


def needs_writing(session: AsyncSession, principal: Principal) -> bool:
    """True unless this process already wrote the caller as their token names them."""
    return _written(session).needs_writing(principal)


async def remember_caller(session: AsyncSession, principal: Principal, *, force: bool = False) -> None:
    written = _written(session)
    if not force and not written.needs_writing(principal):
        written.touch(principal)
        return
    await repository.remember_person(
        session,
        person_id=principal.id,
        name=principal.name,
        email=principal.email,
        role=principal.role,
    )
    written.note(principal)


def note_written(session: AsyncSession, principal: Principal) -> None:
    # exact only once the transaction commits; a rollback merely costs one missed upsert,
    # which the next write by a changed token or a forced one repairs
    _written(session).note(principal)
