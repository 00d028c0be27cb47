"""Mails about incidents: the owner once per incident (and a new owner), admins once when it grows.

Runs in the consumer's transaction next to the event's processed mark (shared.inbox), and the
deliveries table refuses a second (event, recipient, kind): a redelivered event mails nobody twice.
"""

from __future__ import annotations

from shared.events import Envelope, IncidentUpdated
from shared.logging import get_logger
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier import repository
from notifier.mail import MailKind, incident_url
from notifier.models import deliveries
from notifier.repository import Recipient
from notifier.service import MailSettings, queue_mail, write_pending_mails

log = get_logger(__name__)


async def _mailed(session: AsyncSession, kind: MailKind, incident_id: object) -> bool:
    """Whether a mail of this kind about this incident was queued before (by any event)."""
    await write_pending_mails(session)  # those of the events before this one in the batch too
    found = await session.scalar(
        select(exists().where(deliveries.c.kind == kind.value, deliveries.c.ticket_id == incident_id))
    )
    return bool(found)


async def notify_incident_updated(
    *, session: AsyncSession, event: IncidentUpdated, envelope: Envelope, mail: MailSettings
) -> int:
    """Owner set (opened with one, or a new one) → the owner; size reached the alert size → admins."""
    incident = event.incident
    context = {
        "incident": incident.model_dump(mode="json"),
        "incident_url": incident_url(mail.web_base_url, incident.id),
        "threshold": mail.incident_admin_size,
    }
    queued = 0
    owner = incident.owner
    if event.new_owner and owner is not None and owner.id != event.actor.id:
        queued += await queue_mail(
            session=session,
            envelope=envelope,
            kind=MailKind.INCIDENT_ASSIGNED,
            recipients=[Recipient(id=owner.id, email=owner.email, name=owner.name)],
            context=context,
            ticket_id=incident.id,
        )
    size = mail.incident_admin_size
    if (
        size
        and event.previous_size < size <= incident.size
        and incident.status == "open"
        and not await _mailed(session, MailKind.INCIDENT_LARGE, incident.id)
    ):
        admins = await repository.active_admins(session)
        queued += await queue_mail(
            session=session,
            envelope=envelope,
            kind=MailKind.INCIDENT_LARGE,
            recipients=admins,
            context=context,
            ticket_id=incident.id,
        )
        log.info("incident_large_mailed", incident_id=str(incident.id), size=incident.size, admins=len(admins))
    return queued
