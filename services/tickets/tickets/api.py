"""Routes of the tickets service (API.md, Tickets): thin, the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel
from shared.auth import AdminPrincipal, CurrentPrincipal, StaffPrincipal
from shared.deps import SessionDep, StatementSessionDep
from shared.jwt import Principal
from starlette.responses import Response

from tickets import access, comments, service, stats
from tickets.models import Ticket
from tickets.schemas import (
    AttachmentList,
    AttachmentRead,
    CommentCreate,
    CommentPage,
    CommentRead,
    InboundMailFilters,
    InboundMailPage,
    InboundMailRead,
    PageQuery,
    StatsQuery,
    StatsRead,
    TicketCreate,
    TicketFilters,
    TicketPage,
    TicketRead,
    TicketStaffRead,
    TicketUpdate,
)
from tickets.settings import TicketsSettings

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
# before `router`, so /inbound-mail is not read as a ticket id
inbound_router = APIRouter(prefix="/api/tickets/inbound-mail", tags=["inbound mail"])
stats_router = APIRouter(prefix="/api/stats", tags=["statistics"])


async def get_settings(request: Request) -> TicketsSettings:
    settings: TicketsSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[TicketsSettings, Depends(get_settings)]
TicketView = TicketStaffRead | TicketRead


def _json(model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, headers=headers, media_type="application/json")


def _view(ticket: Ticket, principal: Principal) -> TicketView:
    """The ticket as this caller may see it: staff get triage internals, requesters do not."""
    schema = TicketStaffRead if access.sees_internals(ticket, principal) else TicketRead
    return schema.from_ticket(ticket)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID) per ticket the client means to open: a retry with the "
        "same key and body returns the first ticket (`Idempotent-Replayed: true`) instead of a second.",
    ),
]


@router.post("", status_code=201, response_model=TicketView)
async def create_ticket(
    principal: CurrentPrincipal,
    ticket_in: TicketCreate,
    session: StatementSessionDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Open a ticket; triage runs afterwards, and creation works while the broker is down."""
    ticket, replayed = await service.create_ticket(
        session=session, settings=settings, ticket_in=ticket_in, creator=principal, idempotency_key=idempotency_key
    )
    headers = {"Location": f"/api/tickets/{ticket.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(_view(ticket, principal), 201, headers=headers)


@router.get("", response_model=TicketPage)
async def list_tickets(
    principal: CurrentPrincipal, filters: Annotated[TicketFilters, Query()], session: SessionDep
) -> Response:
    """List the tickets the caller may see, newest first, filtered and paginated."""
    rows, next_cursor = await service.list_tickets(session=session, principal=principal, filters=filters)
    page = TicketPage(items=[_view(t, principal) for t in rows], next_cursor=next_cursor)
    return _json(page)


@router.get("/{ticket_id}", response_model=TicketView)
async def get_ticket(principal: CurrentPrincipal, ticket_id: uuid.UUID, session: SessionDep) -> Response:
    """One ticket, if the caller created it, is assigned to it or is an admin."""
    ticket = await service.get_ticket(session=session, ticket_id=ticket_id, principal=principal)
    return _json(_view(ticket, principal))


@router.patch("/{ticket_id}", response_model=TicketView)
async def update_ticket(
    principal: CurrentPrincipal,
    ticket_id: uuid.UUID,
    update: TicketUpdate,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Change status, priority, category or assignee, as the caller's part in the ticket allows."""
    ticket = await service.update_ticket(
        session=session, settings=settings, ticket_id=ticket_id, update=update, principal=principal
    )
    return _json(_view(ticket, principal))


@router.post("/{ticket_id}/comments", status_code=201, response_model=CommentRead)
async def add_comment(
    principal: CurrentPrincipal,
    ticket_id: uuid.UUID,
    comment_in: CommentCreate,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Comment on a ticket (internal notes: staff working the ticket only; a quota per user)."""
    comment = await comments.add_comment(
        session=session, settings=settings, ticket_id=ticket_id, comment_in=comment_in, principal=principal
    )
    return _json(CommentRead.from_comment(comment), 201)


@router.get("/{ticket_id}/comments", response_model=CommentPage)
async def list_comments(
    principal: CurrentPrincipal,
    ticket_id: uuid.UUID,
    page: Annotated[PageQuery, Query()],
    session: SessionDep,
) -> Response:
    """The ticket's comments the caller may read, oldest first."""
    rows, next_cursor = await comments.list_comments(
        session=session, ticket_id=ticket_id, principal=principal, page=page
    )
    return _json(CommentPage(items=[CommentRead.from_comment(c) for c in rows], next_cursor=next_cursor))


@router.post("/{ticket_id}/retriage", status_code=202, response_model=TicketStaffRead)
async def retriage(principal: AdminPrincipal, ticket_id: uuid.UUID, session: SessionDep) -> Response:
    """Run triage on the ticket again (admin)."""
    ticket = await service.request_retriage(session=session, ticket_id=ticket_id, principal=principal)
    return _json(_view(ticket, principal), 202)


@router.get("/{ticket_id}/attachments", response_model=AttachmentList)
async def list_attachments(principal: CurrentPrincipal, ticket_id: uuid.UUID, session: SessionDep) -> Response:
    """The files that came with the ticket's mails."""
    rows = await service.list_attachments(session=session, ticket_id=ticket_id, principal=principal)
    return _json(AttachmentList(items=[AttachmentRead.model_validate(a, from_attributes=True) for a in rows]))


@router.get("/{ticket_id}/attachments/{attachment_id}", response_class=Response)
async def download_attachment(
    principal: CurrentPrincipal, ticket_id: uuid.UUID, attachment_id: uuid.UUID, session: SessionDep
) -> Response:
    """One attachment's bytes, always as a download (never rendered by the browser)."""
    attachment = await service.get_attachment(
        session=session, ticket_id=ticket_id, attachment_id=attachment_id, principal=principal
    )
    return _download(attachment.data, attachment.filename)


def _download(data: bytes, filename: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in filename)[:150] or "file"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@inbound_router.get("", response_model=InboundMailPage)
async def list_inbound_mail(
    _: AdminPrincipal, filters: Annotated[InboundMailFilters, Query()], session: SessionDep
) -> Response:
    """Mails the support address received and what became of each, newest first (admin)."""
    rows, next_cursor = await service.list_inbound_mail(
        session=session, outcome=filters.outcome, cursor=filters.cursor, limit=filters.limit
    )
    items = [InboundMailRead.model_validate(m, from_attributes=True) for m in rows]
    return _json(InboundMailPage(items=items, next_cursor=next_cursor))


@inbound_router.get("/{mail_id}/raw", response_class=Response)
async def inbound_mail_raw(_: AdminPrincipal, mail_id: uuid.UUID, session: SessionDep) -> Response:
    """The received message exactly as it arrived (admin)."""
    mail = await service.get_inbound_mail(session=session, mail_id=mail_id)
    return _download(mail.raw, f"{mail.id}.eml")


@stats_router.get("", response_model=StatsRead)
async def ticket_stats(
    principal: StaffPrincipal, query: Annotated[StatsQuery, Query()], session: SessionDep
) -> Response:
    """Dashboard figures for a range of UTC days: every ticket (admins) or those assigned to you (moderators)."""
    figures = await stats.ticket_stats(session=session, principal=principal, query=query)
    return Response(figures.model_dump_json(by_alias=True), media_type="application/json")
