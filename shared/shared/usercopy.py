"""A service's local copy of users (auth owns them): the newest revision wins.

Auth numbers each state of a user (`UserUpdated.revision`; a `UserRegistered` is revision 0)
and events may arrive out of order or twice. Every copy (tickets `people`, triage `staff`,
notifier `users`; a new one is named `<svc>.users`) has an integer `revision` column and is
written only through `apply_revision`: one statement that inserts the user or overwrites the
copied columns unless the copy already holds a later revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import FromClause

from shared.events import UserRegistered, UserUpdated


def revision_of(event: UserRegistered | UserUpdated) -> int:
    """The revision an event carries (a registration is the first state, revision 0)."""
    return event.revision if isinstance(event, UserUpdated) else 0


async def apply_revision(
    session: AsyncSession,
    copy: FromClause,
    *,
    key: str = "id",
    values: Mapping[str, Any],
    revision: int,
    overwrite: Iterable[str] | None = None,
    insert_missing: bool = True,
) -> bool:
    """Store `values` (with `key`) as revision `revision` of a user; False when a later one is stored.

    `overwrite`: the columns an existing copy takes from `values` (default: all but `key`);
    the others are written on insert only. `insert_missing=False` updates a copy that exists and
    adds none (triage keeps staff only). `updated_at`, when the table has it, is set on a change.
    """
    table = cast(Table, copy)  # a mapped class's __table__ (typed FromClause) or a Table
    columns = [name for name in (overwrite if overwrite is not None else values) if name != key]
    stamp = {"updated_at": func.now()} if "updated_at" in table.c else {}
    newer = table.c.revision <= revision
    if not insert_missing:
        statement = (
            update(table)
            .where(table.c[key] == values[key], newer)
            .values({name: values[name] for name in columns} | {"revision": revision} | stamp)
        )
        return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]
    stmt = insert(table).values({**values, "revision": revision})
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: stmt.excluded[name] for name in columns} | {"revision": stmt.excluded.revision} | stamp,
        where=table.c.revision <= stmt.excluded.revision,
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
