"""Who gets which mail for an event, and the preferences/failures rules. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.events import (
    Envelope,
    TicketCommented,
    TicketTriageFailed,
    TicketUpdated,
    UserRegistered,
    UserUpdated,
)
from shared.jwt import Principal
from shared.logging import get_logger
from shared.pagination import decode_cursor, fetch_limit, keyset_page
from shared.problems import not_found
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from notifier import repository
from notifier.mail import MailKind, render, ticket_url
from notifier.repository import Recipient
from notifier.schemas import FailureList, FailureRead, Preferences

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """What rendering needs from the settings."""

    web_base_url: str
    incident_admin_size: int = 10


async def queue_mail(
    *,
    session: AsyncSession,
    envelope: Envelope,
    kind: MailKind,
    recipients: Iterable[Recipient],
    context: Mapping[str, Any],
    ticket_id: uuid.UUID | None = None,
    verified_only: bool = True,
) -> int:
    """Render and queue one mail per recipient, skipping those who turned `kind` off, whose
    account is disabled or (unless `verified_only` is False: the mails that carry the link that
    verifies) whose email address is not verified.

    Runs in the consumer's transaction, next to the event's processed mark: either both
    commit or neither does. The rows are written when that transaction commits, with every other
    mail queued in it (one INSERT); a mail already queued for the same (event, recipient, kind)
    is not queued twice. Returns how many mails were queued.
    """
    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(recipient.email.strip().lower(), recipient)
    known_ids = [r.id for r in unique.values() if r.id is not None]
    silenced = await repository.suppressed(session, known_ids, kind.value, verified_only=verified_only)
    pending = _pending_deliveries(session)
    queued = 0
    for email, recipient in unique.items():
        if recipient.id is not None and recipient.id in silenced:
            log.info("mail_suppressed", kind=kind.value, recipient_id=str(recipient.id))
            continue
        # The welcome and verification mails go to whatever address someone typed at signup,
        # with a name they chose: it would carry their text to a stranger's inbox, so they name nobody
        name = "" if kind in (MailKind.WELCOME, MailKind.VERIFY_EMAIL) else recipient.name
        mail = render(kind, {**context, "recipient_name": name or email, "recipient_email": email})
        pending.append(
            {
                "id": uuid.uuid4(),
                "event_id": envelope.id,
                "event_type": envelope.type,
                "kind": kind.value,
                "recipient_id": recipient.id,
                "recipient_email": email,
                "recipient_name": name[:200],
                "ticket_id": ticket_id,
                "correlation_id": envelope.correlation_id,
                "subject": mail.subject,
                "body_text": mail.text,
                "body_html": mail.html,
            }
        )
        queued += 1
    return queued


# The mails of every event applied in one transaction (a batch of events, shared.inbox) are
# written together just before it commits: one multi-row INSERT instead of one per mail. A
# transaction that rolls back takes its list with it (it lives in the session).
_PENDING = "notifier.pending_deliveries"


def _pending_deliveries(session: AsyncSession) -> list[dict[str, Any]]:
    pending: list[dict[str, Any]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session.sync_session, "before_commit", _write_pending, once=True)
        event.listen(session.sync_session, "after_rollback", _drop_pending, once=True)
    return pending


def _drop_pending(sync_session: Session) -> None:
    sync_session.info.pop(_PENDING, None)


def _write_pending(sync_session: Session) -> None:
    # runs in the commit's greenlet (sqlalchemy.ext.asyncio): sync calls may emit SQL here
    pending: list[dict[str, Any]] = sync_session.info.pop(_PENDING, None) or []
    if pending:
        sync_session.execute(repository.add_deliveries_statement(pending))


async def write_pending_mails(session: AsyncSession) -> None:
    """Write the mails queued in this transaction now rather than at its commit (to read them back)."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, None) or []
    if pending:
        await session.execute(repository.add_deliveries_statement(pending))


# --- events --------------------------------------------------------------------------------


def _link(mail: MailSettings, page: str, token: str) -> str:
    # the token is URL-safe (base64url JWT); quoted anyway, it is only ever a query value
    return f"{mail.web_base_url}/{page}?token={quote(token, safe='')}"


async def _queue_verification(
    *, session: AsyncSession, envelope: Envelope, event: UserRegistered | UserUpdated, token: str, mail: MailSettings
) -> int:
    return await queue_mail(
        session=session,
        envelope=envelope,
        kind=MailKind.VERIFY_EMAIL,
        recipients=[Recipient(id=event.user_id, email=event.email, name="")],
        context={"verify_url": _link(mail, "verify", token)},
        verified_only=False,
    )


async def record_user_registered(
    *, session: AsyncSession, event: UserRegistered, envelope: Envelope, mail: MailSettings
) -> int:
    """Remember the new user and queue its one mail: the verification link of a signup, the
    set-password link of an account made from a mail (using it verifies), or a plain welcome
    to an account that is verified already (the first admin)."""
    await repository.upsert_user(
        session,
        user_id=event.user_id,
        email=event.email,
        name=event.name,
        role=event.role,
        active=True,
        revision=0,
        email_verified=event.email_verified,
        opened_by_mail=event.password_setup_token is not None,
    )
    if event.password_setup_token or event.email_verified:
        return await queue_mail(
            session=session,
            envelope=envelope,
            kind=MailKind.WELCOME,
            recipients=[Recipient(id=event.user_id, email=event.email, name=event.name)],
            context={
                "app_url": f"{mail.web_base_url}/",
                "setup_url": (
                    _link(mail, "set-password", event.password_setup_token) if event.password_setup_token else None
                ),
            },
            verified_only=event.password_setup_token is None,
        )
    if event.verification_token:
        return await _queue_verification(
            session=session, envelope=envelope, event=event, token=event.verification_token, mail=mail
        )
    log.warning("unverified_user_without_link", user_id=str(event.user_id))
    return 0


async def record_user_updated(
    *, session: AsyncSession, event: UserUpdated, envelope: Envelope, mail: MailSettings
) -> int:
    """Keep the local copy of a user's name, email, role and state (newest revision wins); mail
    the verification link again when its owner asked for it."""
    await repository.upsert_user(
        session,
        user_id=event.user_id,
        email=event.email,
        name=event.name,
        role=event.role,
        active=event.active,
        revision=event.revision,
        email_verified=event.email_verified,
    )
    if event.verification_token and not event.email_verified:
        return await _queue_verification(
            session=session, envelope=envelope, event=event, token=event.verification_token, mail=mail
        )
    return 0


async def notify_ticket_updated(
    *, session: AsyncSession, event: TicketUpdated, envelope: Envelope, mail: MailSettings
) -> int:
    """Assignment → the assignee; status → resolved → the requester.

    Nobody is mailed about their own action (an admin taking a ticket, say).
    """
    ticket = event.ticket
    if not await repository.advance_ticket_version(session, ticket_id=ticket.id, version=event.version):
        log.info("ticket_event_stale", ticket_id=str(ticket.id), version=event.version)
        return 0
    actor_id = event.actor.id if event.actor.kind == "user" else None
    link = ticket_url(mail.web_base_url, ticket.id)
    queued = 0

    assignment = event.changes.get("assigned_to")
    assignee = ticket.assigned_to
    if assignment is not None and assignee is not None and assignee.id != actor_id:
        queued += await queue_mail(
            session=session,
            envelope=envelope,
            kind=MailKind.TICKET_ASSIGNED,
            recipients=[Recipient(id=assignee.id, email=assignee.email, name=assignee.name)],
            context={
                "ticket": ticket.model_dump(mode="json"),
                "ticket_url": link,
                "reassigned": assignment.old is not None,
            },
            ticket_id=ticket.id,
        )

    status = event.changes.get("status")
    requester = ticket.created_by
    if status is not None and status.new == "resolved" and ticket.status == "resolved" and requester.id != actor_id:
        queued += await queue_mail(
            session=session,
            envelope=envelope,
            kind=MailKind.TICKET_RESOLVED,
            recipients=[Recipient(id=requester.id, email=requester.email, name=requester.name)],
            context={
                "ticket": ticket.model_dump(mode="json"),
                "ticket_url": link,
                # an incident resolved with one comment for all: it comes in this one mail
                "public_comment": event.public_comment,
            },
            ticket_id=ticket.id,
        )
    return queued


async def notify_ticket_commented(
    *, session: AsyncSession, event: TicketCommented, envelope: Envelope, mail: MailSettings
) -> int:
    """A public comment goes to the other side: staff's to the requester, the requester's to the
    assignee. Nobody is mailed their own comment."""
    ticket = event.ticket
    author_id = event.author.id
    requester = ticket.created_by
    if author_id == requester.id:
        target = ticket.assigned_to
    else:
        target = requester
    if target is None or target.id == author_id:
        return 0
    return await queue_mail(
        session=session,
        envelope=envelope,
        kind=MailKind.TICKET_COMMENTED,
        recipients=[Recipient(id=target.id, email=target.email, name=target.name)],
        context={
            "ticket": ticket.model_dump(mode="json"),
            "ticket_url": ticket_url(mail.web_base_url, ticket.id),
            "author_name": event.author.name or "Support",
            "body": event.body,
        },
        ticket_id=ticket.id,
    )


async def notify_triage_failed(
    *, session: AsyncSession, event: TicketTriageFailed, envelope: Envelope, mail: MailSettings
) -> int:
    """Every active admin (and the admin the ticket fell back to) learns why triage failed."""
    recipients = await repository.active_admins(session)
    fallback = event.fallback_assignee
    if fallback is not None:
        recipients.append(Recipient(id=fallback.id, email=fallback.email, name=fallback.name))
    if not recipients:
        log.warning("triage_failed_no_admin", ticket_id=str(event.ticket_id))
        return 0
    return await queue_mail(
        session=session,
        envelope=envelope,
        kind=MailKind.TRIAGE_FAILED,
        recipients=recipients,
        context={
            "ticket": {"id": str(event.ticket_id), "title": event.title or "(untitled)"},
            "reason": event.reason,
            "ticket_url": ticket_url(mail.web_base_url, event.ticket_id),
        },
        ticket_id=event.ticket_id,
    )


# --- preferences and failures (HTTP) -------------------------------------------------------


async def get_preferences(*, session: AsyncSession, principal: Principal) -> Preferences:
    """The caller's mail preferences."""
    return Preferences(**await repository.get_preferences(session, principal.id))


async def update_preferences(
    *, session: AsyncSession, principal: Principal, preferences_in: Preferences
) -> Preferences:
    """Replace the caller's mail preferences."""
    values = await repository.put_preferences(session, user_id=principal.id, values=preferences_in.model_dump())
    return Preferences(**values)


async def list_failures(*, session: AsyncSession, limit: int, cursor: str | None) -> FailureList:
    """Mails that could not be delivered, newest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_failures(session, limit=fetch_limit(limit), after=after)
    page, next_cursor = keyset_page(rows, limit, key=lambda row: (row["failed_at"], row["id"]))
    return FailureList(items=[FailureRead.model_validate(dict(row)) for row in page], next_cursor=next_cursor)


async def retry_failure(*, session: AsyncSession, delivery_id: uuid.UUID) -> FailureRead:
    """Queue a failed mail again."""
    row = await repository.requeue_failed(session, delivery_id)
    if row is None:
        raise not_found("failed delivery")
    return FailureRead.model_validate(dict(row))
