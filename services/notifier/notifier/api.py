"""Routes: the caller's mail preferences, and the failed-mail list for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from shared.auth import AdminPrincipal, CurrentPrincipal
from shared.deps import SessionDep

from notifier import service
from notifier.schemas import FailureList, FailureRead, Preferences

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("/preferences")
async def read_preferences(session: SessionDep, principal: CurrentPrincipal) -> Preferences:
    """The kinds of mail the caller receives."""
    return await service.get_preferences(session=session, principal=principal)


@router.put("/preferences")
async def write_preferences(
    preferences_in: Preferences, session: SessionDep, principal: CurrentPrincipal
) -> Preferences:
    """Turn kinds of mail on or off for the caller (all four fields, nothing else)."""
    return await service.update_preferences(session=session, principal=principal, preferences_in=preferences_in)


@router.get("/failures")
async def read_failures(
    session: SessionDep,
    _admin: AdminPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> FailureList:
    """Mails that could not be delivered (permanent SMTP errors, or retried too long)."""
    return await service.list_failures(session=session, limit=limit, cursor=cursor)


@router.post("/failures/{delivery_id}/retry", status_code=202)
async def retry_failure(delivery_id: uuid.UUID, session: SessionDep, _admin: AdminPrincipal) -> FailureRead:
    """Put a failed mail back in the queue."""
    return await service.retry_failure(session=session, delivery_id=delivery_id)
