"""SMTP delivery against real aiosmtpd servers: retries, permanent failures, TLS, auth, outages."""

from __future__ import annotations

import asyncio
import ssl
import time
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from notifier.sink import MailSink
from notifier.smtp import (
    PermanentDeliveryError,
    RetryPolicy,
    SmtpConfig,
    SmtpSender,
    TemporaryDeliveryError,
    send_with_retries,
)

FAST = RetryPolicy(attempts=4, initial_wait=0.05, max_wait=0.2)


def _message(subject: str = "hi") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "helpdesk@example.org"
    msg["To"] = "mod@example.org"
    msg["Subject"] = subject
    msg.set_content("body")
    return msg


async def test_sends_to_the_sink(sink: MailSink) -> None:
    sender = SmtpSender(SmtpConfig(host=sink.host, port=sink.port))
    try:
        await send_with_retries(sender, _message("one"), policy=FAST)
        await send_with_retries(sender, _message("two"), policy=FAST)
    finally:
        await sender.close()
    assert len(list(sink.directory.glob("*.eml"))) == 2


async def test_451_twice_then_accepted(smtp_servers: Any, scripted: Any) -> None:
    handler = scripted(["451 4.3.0 try again later", "451 4.3.0 try again later"])
    server = await smtp_servers(handler)
    retries: list[tuple[int | None, int]] = []
    sender = SmtpSender(SmtpConfig(port=server.port))
    try:
        await send_with_retries(sender, _message(), policy=FAST, on_retry=lambda e, n: retries.append((e.code, n)))
    finally:
        await sender.close()
    assert handler.data_calls == 3
    assert len(handler.accepted) == 1
    assert retries == [(451, 1), (451, 2)]


async def test_451_forever_gives_up_as_temporary(smtp_servers: Any, scripted: Any) -> None:
    handler = scripted(["451 4.3.0 busy"] * 10)
    server = await smtp_servers(handler)
    sender = SmtpSender(SmtpConfig(port=server.port))
    with pytest.raises(TemporaryDeliveryError) as info:
        await send_with_retries(sender, _message(), policy=FAST)
    await sender.close()
    assert info.value.code == 451
    assert handler.data_calls == FAST.attempts


async def test_550_is_permanent_and_not_retried(smtp_servers: Any, scripted: Any) -> None:
    handler = scripted(["550 5.1.1 no such mailbox"])
    server = await smtp_servers(handler)
    sender = SmtpSender(SmtpConfig(port=server.port))
    with pytest.raises(PermanentDeliveryError) as info:
        await send_with_retries(sender, _message(), policy=FAST)
    await sender.close()
    assert info.value.code == 550
    assert "no such mailbox" in str(info.value)
    assert handler.data_calls == 1


async def test_refused_recipient_is_permanent(smtp_servers: Any, scripted: Any) -> None:
    class RefuseRcpt:
        data_calls = 0

        async def handle_RCPT(  # noqa: N802
            self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
        ) -> str:
            return "550 5.1.1 unknown user"

    server = await smtp_servers(RefuseRcpt())
    sender = SmtpSender(SmtpConfig(port=server.port))
    with pytest.raises(PermanentDeliveryError):
        await send_with_retries(sender, _message(), policy=FAST)
    await sender.close()


async def test_connection_refused_is_temporary(unused_port: int) -> None:
    sender = SmtpSender(SmtpConfig(port=unused_port, timeout=2))
    with pytest.raises(TemporaryDeliveryError):
        await send_with_retries(sender, _message(), policy=FAST)


async def test_server_down_then_up(smtp_servers: Any, scripted: Any, unused_port: int) -> None:
    """The server comes up while we are backing off; the mail goes out then."""
    handler = scripted()

    async def start_later() -> None:
        await asyncio.sleep(1.0)
        await smtp_servers(handler, port=unused_port)

    starter = asyncio.create_task(start_later())
    sender = SmtpSender(SmtpConfig(port=unused_port, timeout=2))
    started = time.monotonic()
    try:
        await send_with_retries(sender, _message(), policy=RetryPolicy(attempts=30, initial_wait=0.1, max_wait=0.3))
    finally:
        await sender.close()
        await starter
    assert time.monotonic() - started >= 0.9
    assert len(handler.accepted) == 1


async def test_reconnects_after_the_server_dropped_the_idle_connection(smtp_servers: Any, scripted: Any) -> None:
    handler = scripted()
    server = await smtp_servers(handler)
    sender = SmtpSender(SmtpConfig(port=server.port))
    try:
        await sender.send(_message("first"))
        for smtp in server.sessions:  # the server hangs up on the idle client
            assert smtp.transport is not None
            smtp.transport.close()
        await asyncio.sleep(0.1)
        await sender.send(_message("second"))
    finally:
        await sender.close()
    assert len(handler.accepted) == 2


async def test_starttls_with_login(
    smtp_servers: Any, scripted: Any, server_tls: ssl.SSLContext, password_auth: Any
) -> None:
    handler = scripted()
    server = await smtp_servers(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=password_auth("mailer", "s3cret-pass"),
    )
    config = SmtpConfig(
        port=server.port,
        starttls=True,
        username="mailer",
        password="s3cret-pass",
        validate_certs=False,
    )
    sender = SmtpSender(config)
    try:
        await send_with_retries(sender, _message(), policy=FAST)
    finally:
        await sender.close()
    assert len(handler.accepted) == 1
    assert handler.logins == ["mailer"]
    assert "s3cret-pass" not in repr(config)


async def test_wrong_password_is_permanent(
    smtp_servers: Any, scripted: Any, server_tls: ssl.SSLContext, password_auth: Any
) -> None:
    handler = scripted()
    server = await smtp_servers(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=password_auth("mailer", "s3cret-pass"),
    )
    sender = SmtpSender(
        SmtpConfig(
            port=server.port,
            starttls=True,
            username="mailer",
            password="nope",
            validate_certs=False,
        )
    )
    with pytest.raises(PermanentDeliveryError) as info:
        await send_with_retries(sender, _message(), policy=FAST)
    await sender.close()
    assert info.value.code == 535
    assert handler.data_calls == 0


async def test_implicit_tls(smtp_servers: Any, scripted: Any, server_tls: ssl.SSLContext) -> None:
    handler = scripted()
    server = await smtp_servers(handler, ssl_context=server_tls)
    sender = SmtpSender(SmtpConfig(port=server.port, tls=True, validate_certs=False))
    try:
        await send_with_retries(sender, _message(), policy=FAST)
    finally:
        await sender.close()
    assert len(handler.accepted) == 1


async def test_untrusted_certificate_is_refused_when_validating(
    smtp_servers: Any, scripted: Any, server_tls: ssl.SSLContext
) -> None:
    handler = scripted()
    server = await smtp_servers(handler, ssl_context=server_tls)
    sender = SmtpSender(SmtpConfig(port=server.port, tls=True, timeout=3))
    with pytest.raises(TemporaryDeliveryError):
        await send_with_retries(sender, _message(), policy=RetryPolicy(attempts=1))
    assert handler.accepted == []
