"""The one unit of work of a request: `SessionDep`, committed before the response is sent.

Every service's routes take `session: SessionDep`; routes and service functions never commit.
The transaction commits when the route returns and rolls back when it raises. Because the
dependency has `scope="function"`, the commit happens before the response leaves: a failed
commit is an error answer (a 500 problem), never a 2xx for a write that was not stored.

Work that must follow the commit (wake the outbox relay, start a training run) is registered on
the session with `after_commit`; it runs after a successful commit and before the response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from shared.runtime import Runtime

_AFTER_COMMIT = "shared.after_commit"
_WAKE_RELAY = "shared.wake_relay"


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Run `callback` once this request's transaction has committed (never on a rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def wake_relay_after_commit(session: AsyncSession) -> None:
    """The transaction wrote outbox rows: wake this process's relay once it has committed."""
    session.info[_WAKE_RELAY] = True


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back if it raises."""
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        async with session.begin():
            yield session
        if session.info.pop(_WAKE_RELAY, False):
            runtime.wake_relay()
        for callback in session.info.pop(_AFTER_COMMIT, []):
            callback()


async def get_statement_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Each statement commits by itself: only for a route whose every write is one statement.

    Creating a ticket is one statement (quota, person, ticket, outbox row and NOTIFY together),
    atomic on its own, so BEGIN and COMMIT would be two extra round trips.
    """
    async with _runtime(request).statement_sessions() as session:
        yield session


# scope="function": the dependency ends before the response is sent, so a 201 means "stored"
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
StatementSessionDep = Annotated[AsyncSession, Depends(get_statement_session, scope="function")]
