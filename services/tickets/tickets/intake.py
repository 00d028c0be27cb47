"""The rules of inbound mail: one ticket per Message-ID, replies as comments, loops refused.

`receive` owns its transactions (it is the boundary, like a message handler): the mail's record
and what it did (ticket or comment, their outbox events) commit together, so a redelivery of
the same Message-ID finds the record and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from shared.jwt import Principal
from shared.logging import get_logger
from shared.mailthread import find_tokens
from shared.problems import ProblemError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import access, comments, repository, service
from tickets.mailin_settings import MailInSettings
from tickets.mailparse import ParsedMail, UnparseableMailError, message_key, parse
from tickets.models import Attachment, InboundMail
from tickets.schemas import CommentCreate, TicketCreate, TicketUpdate

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Account:
    """The sender's account, as auth answered for it."""

    id: uuid.UUID
    email: str
    name: str
    role: str


# email, display name -> the account (made by auth when missing); raises on an auth outage
RequesterLookup = Callable[[str, str | None], Awaitable[Account]]


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # ticket | comment | ignored | refused | failed | duplicate
    reason: str | None = None
    ticket_id: uuid.UUID | None = None


def _why(exc: ProblemError | ValidationError) -> str:
    if isinstance(exc, ProblemError):
        return exc.detail or exc.title
    return "invalid: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:3])


def _principal(account: Account) -> Principal:
    return Principal(
        id=account.id,
        role=account.role,  # type: ignore[arg-type]  # auth only answers known roles
        email=account.email,
        name=account.name,
        issued_at=datetime.now(UTC),
        token_id="mail",  # noqa: S106 - no token: the mail itself is the request
    )


def _record(raw: bytes, key: str, parsed: ParsedMail | None, outcome: Outcome) -> InboundMail:
    return InboundMail(
        id=uuid.uuid4(),
        message_id=key,
        sender=parsed.sender if parsed else None,
        subject=parsed.subject[:500] if parsed else None,
        outcome=outcome.outcome,
        reason=(outcome.reason or "")[:1000] or None,
        ticket_id=outcome.ticket_id,
        size=len(raw),
        raw=raw,
        received_at=datetime.now(UTC),
    )


async def _keep(
    sessions: async_sessionmaker[AsyncSession], raw: bytes, key: str, parsed: ParsedMail | None, outcome: Outcome
) -> Outcome:
    """Record a mail that changes no ticket (ignored, refused, failed): kept, never dropped."""
    async with sessions() as session, session.begin():
        if not await repository.claim_inbound(session, _record(raw, key, parsed, outcome)):
            return Outcome("duplicate", "this Message-ID was received before")
    log.info("inbound_mail_kept", outcome=outcome.outcome, reason=outcome.reason)
    return outcome


async def keep_failed(*, sessions: async_sessionmaker[AsyncSession], raw: bytes, reason: str) -> Outcome:
    """Keep a mail nothing could be made of, for admins to look at."""
    return await _keep(sessions, raw, message_key(raw, None), None, Outcome("failed", reason))


def _attachments(
    parsed: ParsedMail, settings: MailInSettings, ticket_id: uuid.UUID, comment_id: uuid.UUID | None
) -> tuple[list[Attachment], list[str]]:
    kept: list[Attachment] = []
    skipped: list[str] = []
    for item in parsed.attachments:
        if len(kept) >= settings.mail_in_max_attachments or len(item.data) > settings.mail_in_attachment_max_bytes:
            skipped.append(item.filename)
            continue
        kept.append(
            Attachment(
                id=uuid.uuid4(),
                ticket_id=ticket_id,
                comment_id=comment_id,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.data),
                data=item.data,
                created_at=datetime.now(UTC),
            )
        )
    return kept, skipped


def _with_skipped(text: str, skipped: list[str], settings: MailInSettings) -> str:
    if not skipped:
        return text
    limit = settings.mail_in_attachment_max_bytes // 1024
    note = f"\n\n[Attachments not stored (over {limit} KiB or too many): {', '.join(skipped)[:500]}]"
    return (text[: 10_000 - len(note)] + note) if len(text) + len(note) > 10_000 else text + note


async def receive(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: MailInSettings,
    requesters: RequesterLookup,
    raw: bytes,
    envelope_from: str | None = None,
    recipients: tuple[str, ...] = (),
) -> Outcome:
    """Turn one received mail into a ticket, a comment, or a kept record of why it is neither."""
    try:
        parsed = parse(raw, envelope_from=envelope_from)
    except UnparseableMailError as exc:
        return await _keep(sessions, raw, message_key(raw, None), None, Outcome("failed", str(exc)))
    key = parsed.message_id
    if parsed.auto_reason is not None:
        return await _keep(sessions, raw, key, parsed, Outcome("ignored", parsed.auto_reason))
    if parsed.sender in (settings.support_address.lower(),):
        return await _keep(sessions, raw, key, parsed, Outcome("ignored", "sent from the support address itself"))

    secret = settings.mail_reply_secret.get_secret_value()
    tickets, forged = find_tokens(parsed.headers_for_threading + " " + " ".join(recipients), secret)
    if forged and not tickets:
        return await _keep(sessions, raw, key, parsed, Outcome("refused", "reply reference with a bad signature"))
    if len(tickets) > 1:
        return await _keep(sessions, raw, key, parsed, Outcome("refused", "references more than one ticket"))

    async with sessions() as session:
        recent = await repository.recent_mails_from(session, parsed.sender, datetime.now(UTC) - timedelta(hours=1))
    if recent >= settings.mail_in_sender_rate:
        flood = f"more than {settings.mail_in_sender_rate} mails from this sender in an hour"
        return await _keep(sessions, raw, key, parsed, Outcome("ignored", flood))

    # outside any transaction: no connection is held while auth answers (an outage raises: 451)
    account = await requesters(parsed.sender, parsed.sender_name)
    principal = _principal(account)
    if tickets:
        return await _reply(sessions, settings, raw, parsed, principal, next(iter(tickets)))
    return await _new_ticket(sessions, settings, raw, parsed, principal)


async def _new_ticket(
    sessions: async_sessionmaker[AsyncSession],
    settings: MailInSettings,
    raw: bytes,
    parsed: ParsedMail,
    principal: Principal,
) -> Outcome:
    ticket_id: uuid.UUID | None = None
    async with sessions() as session, session.begin():
        record = _record(raw, parsed.message_id, parsed, Outcome("ticket"))
        if not await repository.claim_inbound(session, record):
            return Outcome("duplicate", "this Message-ID was received before")
        try:
            async with session.begin_nested():
                # ids are made before the ticket so the skipped-attachment note can go in its text
                kept, skipped = _attachments(parsed, settings, uuid.uuid4(), None)
                ticket_in = TicketCreate(
                    title=parsed.title, description=_with_skipped(parsed.description, skipped, settings)
                )
                ticket, _ = await service.create_ticket(
                    session=session, settings=settings, ticket_in=ticket_in, creator=principal
                )
                ticket_id = ticket.id
                for attachment in kept:
                    attachment.ticket_id = ticket.id
                    session.add(attachment)
                await session.flush()
        except (ProblemError, ValidationError) as exc:  # over the creation quota, say: kept, with why
            await repository.set_inbound_outcome(
                session, record.id, outcome="refused", reason=_why(exc), ticket_id=None
            )
            return Outcome("refused", _why(exc))
        await repository.set_inbound_outcome(session, record.id, outcome="ticket", reason=None, ticket_id=ticket_id)
    log.info("inbound_mail_ticket", ticket_id=str(ticket_id))
    return Outcome("ticket", None, ticket_id)


async def _reply(
    sessions: async_sessionmaker[AsyncSession],
    settings: MailInSettings,
    raw: bytes,
    parsed: ParsedMail,
    principal: Principal,
    ticket_id: uuid.UUID,
) -> Outcome:
    async with sessions() as session, session.begin():
        record = _record(raw, parsed.message_id, parsed, Outcome("comment", None, ticket_id))
        if not await repository.claim_inbound(session, record):
            return Outcome("duplicate", "this Message-ID was received before")
        try:
            async with session.begin_nested():
                ticket = await repository.get_ticket(session, ticket_id, for_update=True)
                # the requester, the assignee or an admin; anyone else holding a forwarded mail is not
                if ticket is None or not access.takes_part(ticket, principal):
                    raise ProblemError(404, "the sender may not comment on the referenced ticket")
                comment_id = uuid.uuid4()
                kept, skipped = _attachments(parsed, settings, ticket.id, comment_id)
                body = _with_skipped(parsed.text or "(the reply had no text)", skipped, settings)
                if ticket.status == "resolved" and ticket.created_by_id == principal.id:
                    await service.update_ticket(
                        session=session,
                        settings=settings,
                        ticket_id=ticket.id,
                        update=TicketUpdate(status="open"),
                        principal=principal,
                    )
                comment = await comments.add_comment(
                    session=session,
                    settings=settings,
                    ticket_id=ticket.id,
                    comment_in=CommentCreate(body=body, internal=False),
                    principal=principal,
                    via="email",
                )
                for attachment in kept:
                    attachment.comment_id = comment.id
                    session.add(attachment)
                await session.flush()
        except (ProblemError, ValidationError) as exc:
            await repository.set_inbound_outcome(
                session, record.id, outcome="refused", reason=_why(exc), ticket_id=ticket_id
            )
            return Outcome("refused", _why(exc), ticket_id)
    log.info("inbound_mail_comment", ticket_id=str(ticket_id))
    return Outcome("comment", None, ticket_id)


__all__ = ["Account", "Outcome", "RequesterLookup", "UnparseableMailError", "keep_failed", "receive"]
