"""The delivery loop: sends pending mails from the `deliveries` table and records the outcome.

The consumer only queues mails (in the transaction that marks the event processed), so a slow
or absent SMTP server never holds up the queue, and an outage is ridden out here, without
redelivering events.

Each worker takes up to ``batch_size`` due mails with ``SELECT ... FOR UPDATE SKIP LOCKED`` (so
several workers and several processes never send the same row), hands them one after another to
the SMTP server over the worker's open connection (tenacity retries temporary errors a few
times), marks them sent (one UPDATE for the batch) / pending-with-backoff / failed and commits.
A mail the server defers ends the batch there: the rest stay pending, untouched, for the next
round (an SMTP outage costs one mail's retries per round, as with one mail per transaction).

Duplicate window: if the process dies, or the database goes away, after the SMTP server
accepted a mail but before that commit, the row is still pending and the mail is sent again.
The window is the rest of its batch (a few milliseconds per mail to a local relay), one UPDATE
and one COMMIT; the repeated mail carries the same Message-ID (``<delivery-id@domain>``), which
lets mail systems and clients drop it. ``NOTIFIER_BATCH_SIZE=1`` narrows it to one mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from shared.logging import bind_contextvars, clear_contextvars, get_logger
from shared.mailthread import reply_address, thread_reference
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifier import repository
from notifier.mail import MailKind, RenderedMail, build_message
from notifier.smtp import (
    PermanentDeliveryError,
    RetryPolicy,
    SmtpConfig,
    SmtpSender,
    TemporaryDeliveryError,
    send_with_retries,
)

log = get_logger(__name__)

MAILS = Counter("notifier_mails_total", "Mail delivery outcomes", ["kind", "outcome"])
MAIL_DELAY = Histogram(
    "notifier_mail_delay_seconds",
    "Time from queueing a mail to the SMTP server accepting it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
WORKERS_BUSY = Gauge("notifier_delivery_workers_busy", "Delivery workers sending right now")


_DEFERRED = object()  # a temporary failure: the mail stays pending with a backoff


def message_id(delivery_id: Any, domain: str) -> str:
    """A stable Message-ID per delivery: a resend after a crash carries the same one."""
    return f"<{delivery_id}@{domain}>"


class DeliveryLoop:
    """Workers that send due pending mails until cancelled."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        smtp: SmtpConfig,
        policy: RetryPolicy,
        mail_from: str,
        sender_domain: str,
        workers: int = 4,
        batch_size: int = 16,
        poll_interval: float = 1.0,
        backoff_max: float = 60.0,
        reply_secret: str | None = None,
        support_address: str | None = None,
        give_up_after: float = 86400.0,
    ) -> None:
        self.sessions = sessions
        self.smtp = smtp
        self.policy = policy
        self.mail_from = mail_from
        self.sender_domain = sender_domain
        self.workers = workers
        self.batch_size = max(1, batch_size)
        self.poll_interval = poll_interval
        self.backoff_max = backoff_max
        self.give_up_after = timedelta(seconds=give_up_after)
        self.reply_secret = reply_secret
        self.support_address = support_address
        self._idle_workers: list[asyncio.Event] = []  # one per waiting worker, the last idle at the end
        self._wanted = False

    def _threading(self, ticket_id: uuid.UUID | None) -> dict[str, str]:
        """Reply-To and References carrying the ticket's signed reply token."""
        if ticket_id is None or not self.reply_secret or not self.support_address:
            return {}
        domain = self.support_address.rpartition("@")[2]
        return {
            "reply_to": reply_address(self.support_address, ticket_id, self.reply_secret),
            "references": thread_reference(ticket_id, self.reply_secret, domain),
        }

    def wake(self) -> None:
        """New mails were committed: look now instead of at the next poll.

        One worker is woken, not all: the one that went idle last (its SMTP connection is the
        most likely still open); a worker that claims a full batch wakes the next. When every
        worker is busy, the first to find nothing due looks once more before it waits.
        """
        if self._idle_workers:
            self._idle_workers.pop().set()
        else:
            self._wanted = True

    async def run(self) -> None:
        """Run the workers until cancelled."""
        async with asyncio.TaskGroup() as group:
            for index in range(self.workers):
                group.create_task(self._worker(index), name=f"notifier-delivery-{index}")

    async def _worker(self, index: int) -> None:
        sender = SmtpSender(self.smtp)
        try:
            while True:
                try:
                    claimed = await self.deliver_batch(sender)
                    if claimed >= self.batch_size:
                        self.wake()  # more may be due: another worker takes the next batch meanwhile
                    else:
                        # less than a batch was due: nothing more is, until a commit wakes a worker
                        # (or this one, if all were busy) or the poll finds a retry due; looking
                        # again now cost an empty claim after every batch
                        await self._idle(sender)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - database down, or a bug: never die
                    log.warning("delivery_loop_error", worker=index, error=str(exc)[:300])
                    await asyncio.sleep(self.poll_interval)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender.close(), timeout=2)

    async def _idle(self, sender: SmtpSender) -> None:
        """Wait for a wake-up meant for this worker, or the poll interval (due retries)."""
        if self._wanted:
            self._wanted = False  # a wake-up came while every worker was busy: look again now
            return
        wake = asyncio.Event()
        self._idle_workers.append(wake)
        try:
            await asyncio.wait_for(wake.wait(), timeout=self.poll_interval)
        except TimeoutError:
            # A quiet spell: let go of the SMTP connection rather than have the server time it out.
            await sender.close()
        finally:
            with contextlib.suppress(ValueError):
                self._idle_workers.remove(wake)

    async def deliver_batch(self, sender: SmtpSender) -> int:
        """Send the oldest due mails (up to `batch_size`) in one transaction; how many were claimed."""
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            rows = await repository.claim_due_deliveries(session, now=now, limit=self.batch_size)
            sent: dict[int, list[uuid.UUID]] = {}
            for row in rows:
                clear_contextvars()
                bind_contextvars(
                    delivery_id=str(row["id"]),
                    event_id=str(row["event_id"]),
                    correlation_id=row["correlation_id"],
                    kind=row["kind"],
                )
                try:
                    outcome = await self._send(session, sender, row, now)
                finally:
                    clear_contextvars()
                if outcome is _DEFERRED:
                    break  # the server is unwell: the rest of the batch waits for the next round
                if isinstance(outcome, int):
                    sent.setdefault(outcome, []).append(row["id"])
            for attempts, ids in sent.items():
                await repository.mark_sent_many(session, ids, attempts=attempts)
        return len(rows)

    async def _send(
        self, session: AsyncSession, sender: SmtpSender, row: RowMapping, now: datetime
    ) -> int | object | None:
        """Hand one mail over; its attempts when sent (the caller marks it), _DEFERRED, or None."""
        previous = int(row["attempts"])
        threading = self._threading(row["ticket_id"])
        try:
            message = build_message(
                mail=RenderedMail(row["subject"], row["body_text"], row["body_html"]),
                sender=self.mail_from,
                recipient_email=row["recipient_email"],
                recipient_name=row["recipient_name"],
                message_id=message_id(row["id"], self.sender_domain),
                kind=MailKind(row["kind"]),
                ticket_id=row["ticket_id"],
                reply_to=threading.get("reply_to"),
                references=threading.get("references"),
            )
        except (ValueError, TypeError, IndexError) as exc:
            # An address no mail system would take: failing it beats blocking the queue on it.
            error = f"cannot build the message: {exc}"
            await repository.mark_failed(session, row["id"], attempts=previous, error=error, code=None)
            MAILS.labels(row["kind"], "failed").inc()
            log.error("mail_unbuildable", error=str(exc)[:300])
            return None
        WORKERS_BUSY.inc()
        try:
            attempts = await send_with_retries(sender, message, policy=self.policy)
        except PermanentDeliveryError as exc:
            total = previous + exc.attempts
            await repository.mark_failed(session, row["id"], attempts=total, error=str(exc), code=exc.code)
            MAILS.labels(row["kind"], "failed").inc()
            log.error("mail_failed_permanently", error=str(exc)[:300], attempts=total)
        except TemporaryDeliveryError as exc:
            total = previous + exc.attempts
            if now - row["queued_at"] >= self.give_up_after:
                await repository.mark_failed(session, row["id"], attempts=total, error=str(exc), code=exc.code)
                MAILS.labels(row["kind"], "failed").inc()
                log.error("mail_failed_gave_up", error=str(exc)[:300], attempts=total)
                return None
            delay = self._backoff(total)
            await repository.mark_retry(
                session,
                row["id"],
                attempts=total,
                next_attempt_at=now + timedelta(seconds=delay),
                error=str(exc),
                code=exc.code,
            )
            MAILS.labels(row["kind"], "retry_later").inc()
            log.warning("mail_deferred", error=str(exc)[:300], attempts=total, retry_in=delay)
            return _DEFERRED
        else:
            MAILS.labels(row["kind"], "sent").inc()
            MAIL_DELAY.observe(max(0.0, (datetime.now(UTC) - row["queued_at"]).total_seconds()))
            log.info("mail_sent", attempts=previous + attempts)
            return previous + attempts
        finally:
            WORKERS_BUSY.dec()
        return None

    def _backoff(self, attempts: int) -> float:
        rounds = max(1, attempts // max(1, self.policy.attempts))
        return float(min(self.backoff_max, 2.0 ** min(rounds - 1, 20)))
