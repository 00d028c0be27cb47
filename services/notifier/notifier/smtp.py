"""SMTP delivery with aiosmtplib: any provider by configuration, retries on temporary errors.

Errors are sorted into two kinds:
- temporary (4xx replies, refused/reset connections, timeouts, TLS handshakes that broke):
  retried with exponential backoff and jitter (tenacity); when the budget is spent the caller
  keeps the mail pending and tries again later;
- permanent (5xx replies: unknown mailbox, authentication refused, message rejected): never
  retried, the caller records the failure where admins can see it.
"""

from __future__ import annotations

import asyncio
import copy
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

import aiosmtplib
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to hand mail over; built from the notifier's settings."""

    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    tls: bool = False
    timeout: float = 10.0
    validate_certs: bool = True
    local_hostname: str | None = None


class DeliveryError(Exception):
    """A mail could not be handed over; ``temporary`` says whether trying again may help."""

    temporary: bool = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.attempts = 0


class TemporaryDeliveryError(DeliveryError):
    """Try again later: 4xx, connection refused, timeout."""

    temporary = True


class PermanentDeliveryError(DeliveryError):
    """Do not try again: 5xx."""

    temporary = False


def _by_code(code: int, text: str) -> DeliveryError:
    message = f"SMTP {code}: {text}".strip()
    if 400 <= code < 500:
        return TemporaryDeliveryError(message, code=code)
    if 500 <= code < 600:
        return PermanentDeliveryError(message, code=code)
    # Anything else is a protocol oddity (a proxy speaking garbage): worth another go.
    return TemporaryDeliveryError(message, code=code)


def classify(exc: BaseException) -> DeliveryError:
    """Turn an aiosmtplib/socket error into a temporary or permanent DeliveryError."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        if refused:
            # One recipient per message: its reply decides. Several: temporary only if all are.
            codes = [r.code for r in refused]
            worst = max(codes) if any(c >= 500 for c in codes) else codes[0]
            return _by_code(worst, "; ".join(f"{r.recipient}: {r.message}" for r in refused))
        return TemporaryDeliveryError("all recipients refused")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, exc.message)
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError)):
        return TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (OSError, TimeoutError, ssl.SSLError, aiosmtplib.SMTPException)):
        return TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")
    raise exc


def flatten(message: Message) -> tuple[str, list[str], bytes]:
    """Envelope sender, recipients (To/Cc/Bcc) and the bytes to send (Bcc removed).

    The message is flattened with its own policy; aiosmtplib's ``send_message`` would
    re-fold the headers with the standard library's 78-column policy.
    """
    from_header = message.get("Sender") or message.get("From") or ""
    senders = [addr for _, addr in getaddresses([str(from_header)]) if addr]
    recipients = [
        addr for _, addr in getaddresses([str(v) for k in ("To", "Cc", "Bcc") for v in message.get_all(k, [])]) if addr
    ]
    if not senders or not recipients:
        raise PermanentDeliveryError("message has no sender or no recipient")
    if "Bcc" in message:
        message = copy.copy(message)
        del message["Bcc"]
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    return senders[0], recipients, raw


class SmtpSender:
    """One SMTP connection, opened on first use and reused; reopened after any error."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    def _new_client(self) -> aiosmtplib.SMTP:
        cfg = self.config
        return aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username or None,
            password=cfg.password or None,
            use_tls=cfg.tls,
            start_tls=cfg.starttls if not cfg.tls else False,
            timeout=cfg.timeout,
            validate_certs=cfg.validate_certs,
            local_hostname=cfg.local_hostname,
        )

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        await self._drop()
        client = self._new_client()
        await client.connect()
        self._client = client
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=self.config.timeout)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    async def send(self, message: Message) -> None:
        """Hand one message over (a single attempt); raises a DeliveryError on failure."""
        sender, recipients, raw = flatten(message)
        async with self._lock:
            reused = self._client is not None and self._client.is_connected
            try:
                client = await self._connected()
                await client.sendmail(sender, recipients, raw)
            except aiosmtplib.SMTPServerDisconnected as exc:
                await self._drop()
                if not reused:
                    raise classify(exc) from exc
                # The server closed an idle connection we kept: one fresh try is not a retry.
                try:
                    client = await self._connected()
                    await client.sendmail(sender, recipients, raw)
                except Exception as retry_exc:
                    await self._drop()
                    raise classify(retry_exc) from retry_exc
            except Exception as exc:
                await self._drop()
                raise classify(exc) from exc

    async def close(self) -> None:
        """Say QUIT and close the connection."""
        async with self._lock:
            await self._drop()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one delivery attempt tries before the mail goes back to the pending pile."""

    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 5.0


async def send_with_retries(
    sender: SmtpSender,
    message: Message,
    *,
    policy: RetryPolicy,
    on_retry: Callable[[DeliveryError, int], None] | None = None,
) -> int:
    """Send with tenacity: temporary errors are retried with backoff, permanent ones are not.

    Returns the number of attempts it took; a raised DeliveryError carries it in ``attempts``.
    """

    def _before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if isinstance(exc, DeliveryError):
                on_retry(exc, state.attempt_number)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TemporaryDeliveryError),
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait),
        before_sleep=_before_sleep,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                await sender.send(message)
    except DeliveryError as exc:
        exc.attempts = attempts
        raise
    return attempts
