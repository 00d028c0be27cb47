"""The rules of comments: who writes and reads them, internal notes, the per-author quota."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Literal

from shared.events import TicketCommented
from shared.jwt import Principal
from shared.outbox import add_event
from shared.pagination import decode_cursor, keyset_page
from shared.problems import ProblemError
from sqlalchemy.ext.asyncio import AsyncSession

from tickets import people, repository
from tickets.access import is_staff_for, takes_part
from tickets.changes import actor, snapshot
from tickets.models import Comment, outbox
from tickets.schemas import CommentCreate, PageQuery
from tickets.service import utcnow, visible_ticket
from tickets.settings import TicketsSettings


async def _check_comment_quota(
    session: AsyncSession, *, settings: TicketsSettings, author_id: uuid.UUID, now: datetime
) -> None:
    """429 with Retry-After when the author already wrote `comment_quota` comments in the window."""
    quota = settings.comment_quota
    if quota == 0:
        return
    window = timedelta(seconds=settings.comment_quota_window_seconds)
    await repository.lock_comment_quota(session, author_id=author_id)
    recent = await repository.recent_comment_times(session, author_id=author_id, since=now - window, limit=quota)
    if len(recent) >= quota:
        retry_after = max(1, math.ceil((recent[-1] + window - now).total_seconds()))
        raise ProblemError(
            429,
            f"At most {quota} comments per {settings.comment_quota_window_seconds} s; try again later.",
            headers={"Retry-After": str(retry_after)},
        )


async def add_comment(
    *,
    session: AsyncSession,
    settings: TicketsSettings,
    ticket_id: uuid.UUID,
    comment_in: CommentCreate,
    principal: Principal,
    now: datetime | None = None,
    via: Literal["web", "email"] = "web",
) -> Comment:
    """A comment by the creator, the assignee or an admin; internal ones by staff only; 429 over quota.

    A public one goes out as ticket.commented, so the other side is mailed.
    """
    principal = people.storable(principal)
    ticket = await visible_ticket(session, ticket_id, principal)
    if not takes_part(ticket, principal):
        raise ProblemError(403, "This ticket waits for a free slot; you may comment once it is assigned to you.")
    if comment_in.internal and not is_staff_for(ticket, principal):
        raise ProblemError(403, "Only staff working this ticket may write internal comments.")
    now = now or utcnow()
    await _check_comment_quota(session, settings=settings, author_id=principal.id, now=now)
    comment = new_comment(ticket.id, principal, comment_in.body, internal=comment_in.internal, now=now)
    await people.remember_caller(session, principal)
    session.add(comment)
    await session.flush()
    if not comment.internal:
        await add_event(
            session,
            outbox,
            TicketCommented(
                ticket=snapshot(ticket),
                comment_id=comment.id,
                author=actor(principal),
                body=comment.body,
                via=via,
            ),
        )
    return comment


async def list_comments(
    *, session: AsyncSession, ticket_id: uuid.UUID, principal: Principal, page: PageQuery
) -> tuple[list[Comment], str | None]:
    """One page of the comments the caller may read, oldest first."""
    ticket = await visible_ticket(session, ticket_id, principal)
    rows = await repository.list_comments(
        session,
        ticket_id=ticket.id,
        include_internal=is_staff_for(ticket, principal),
        after=decode_cursor(page.cursor) if page.cursor else None,
        limit=page.limit,
    )
    return keyset_page(rows, page.limit)


def new_comment(ticket_id: uuid.UUID, author: Principal, body: str, *, internal: bool, now: datetime) -> Comment:
    """A comment row by `author` (their name, address and role as of now)."""
    return Comment(
        id=uuid.uuid4(),
        ticket_id=ticket_id,
        author_id=author.id,
        author_name=author.name,
        author_email=author.email,
        author_role=author.role,
        body=body,
        internal=internal,
        created_at=now,
    )
