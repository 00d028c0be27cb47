"""The mail-in process of the tickets service: an SMTP listener (and optional IMAP polling) that
opens tickets and threads replies (`uvicorn tickets.mailin:create_app --factory --port 8105`).

It is a process of the tickets service (its schema, its rules, its outbox); the sender's account
comes from auth's internal `POST /internal/requesters`. Its HTTP port answers /healthz, /readyz,
/metrics; the SMTP listener is on MAIL_IN_HOST:MAIL_IN_PORT (2525).
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from prometheus_client import Counter
from shared.logging import get_logger
from shared.runtime import Runtime
from shared.web import create_service_app
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets import intake, people
from tickets.mailin_settings import MailInSettings

log = get_logger(__name__)
MAILS_IN = Counter("tickets_inbound_mails_total", "Inbound mails by outcome", ["outcome"])


class RequesterClient:
    """auth's internal `POST /internal/requesters`: the sender's account, made when missing."""

    def __init__(self, session: aiohttp.ClientSession, auth_url: str) -> None:
        self._session = session
        self._url = auth_url.rstrip("/") + "/internal/requesters"

    async def __call__(self, email: str, name: str | None) -> intake.Account:
        body: dict[str, Any] = {"email": email}
        if name:
            body["name"] = name
        async with self._session.post(self._url, json=body) as response:
            if response.status == 422:
                raise intake.UnparseableMailError(f"auth refused the sender address {email[:80]!r}")
            response.raise_for_status()
            user = (await response.json())["user"]
        return intake.Account(id=uuid.UUID(user["id"]), email=user["email"], name=user["name"], role=user["role"])


class Intake:
    """One received mail in, one outcome out (shared by the SMTP listener and the IMAP poller)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: MailInSettings, requesters: intake.RequesterLookup
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.requesters = requesters

    async def __call__(self, raw: bytes, *, envelope_from: str | None, recipients: tuple[str, ...]) -> intake.Outcome:
        try:
            outcome = await intake.receive(
                sessions=self.sessions,
                settings=self.settings,
                requesters=self.requesters,
                raw=raw,
                envelope_from=envelope_from,
                recipients=recipients,
            )
        except intake.UnparseableMailError as exc:
            outcome = await intake.keep_failed(sessions=self.sessions, raw=raw, reason=str(exc))
        MAILS_IN.labels(outcome.outcome).inc()
        return outcome


class SmtpHandler:
    """aiosmtpd handler: only the support address (and its +tags); 451 when we cannot take it now."""

    def __init__(self, intake_: Intake, settings: MailInSettings) -> None:
        self.intake = intake_
        local, _, domain = settings.support_address.lower().rpartition("@")
        self.local = local.split("+", 1)[0]
        self.domain = domain

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,  # noqa: N802
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local, _, domain = address.lower().rpartition("@")
        if domain != self.domain or local.split("+", 1)[0] != self.local:
            return "550 5.1.1 not a mailbox of this helpdesk"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome = await self.intake(raw, envelope_from=envelope.mail_from, recipients=tuple(envelope.rcpt_tos))
        except Exception as exc:  # noqa: BLE001 - the sender keeps the mail and retries
            log.warning("inbound_mail_deferred", error=type(exc).__name__, detail=str(exc)[:200])
            return "451 4.3.0 cannot take this mail now; try again later"
        return f"250 OK: {outcome.outcome}"


class ImapPoller:
    """Fetches unseen mails from a hosted mailbox every IMAP_POLL_S and marks them seen once handled.

    Tested against a local stand-in of the commands used, not a real server (README): imaplib in
    a thread, one folder, nothing deleted; a mail is marked \\Seen only after intake kept it.
    """

    def __init__(self, intake_: Intake, settings: MailInSettings) -> None:
        self.intake = intake_
        self.settings = settings

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        assert s.imap_host is not None
        client: imaplib.IMAP4
        if s.imap_tls:
            client = imaplib.IMAP4_SSL(s.imap_host, s.imap_port, ssl_context=ssl.create_default_context(), timeout=30)
        else:
            client = imaplib.IMAP4(s.imap_host, s.imap_port, timeout=30)
        password = s.imap_password.get_secret_value() if s.imap_password else ""
        client.login(s.imap_user or "", password)
        client.select(s.imap_folder)
        return client

    def _fetch_unseen(self) -> tuple[imaplib.IMAP4, list[tuple[bytes, bytes]]]:
        client = self._connect()
        _, data = client.uid("SEARCH", "UNSEEN")
        found: list[tuple[bytes, bytes]] = []
        for uid in (data[0] or b"").split()[:100]:
            _, parts = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            for part in parts:
                if isinstance(part, tuple) and len(part[1]) <= self.settings.mail_in_max_bytes:
                    found.append((uid, part[1]))
        return client, found

    async def run(self) -> None:
        while True:
            try:
                client, mails = await asyncio.to_thread(self._fetch_unseen)
                try:
                    for uid, raw in mails:
                        await self.intake(raw, envelope_from=None, recipients=())
                        await asyncio.to_thread(client.uid, "STORE", uid.decode(), "+FLAGS", "(\\Seen)")
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(client.logout)
            except Exception as exc:  # noqa: BLE001 - a mailbox outage must not end the poller
                log.warning("imap_poll_failed", error=type(exc).__name__, detail=str(exc)[:200])
            await asyncio.sleep(self.settings.imap_poll_s)


def create_app(settings: MailInSettings | None = None) -> FastAPI:
    """The mail-in app: health on HTTP, the SMTP listener and the IMAP poller in its lifespan."""
    settings = settings or MailInSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # no relay here: the tickets processes' relays publish this outbox (woken by NOTIFY)
        runtime = Runtime(settings=settings, database_url=settings.database_url, outbox=None, uses_bus=False)
        people.remember_written(runtime.sessions)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=2))
        handler_intake = Intake(runtime.sessions, settings, RequesterClient(http, settings.auth_internal_url))
        if settings.imap_host:
            poller = ImapPoller(handler_intake, settings)
            runtime.run_in_background("imap", poller.run)
        await runtime.start()
        loop = asyncio.get_running_loop()
        handler = SmtpHandler(handler_intake, settings)
        server = await loop.create_server(
            lambda: SMTP(
                handler, hostname="helpdesk-mail-in", data_size_limit=settings.mail_in_max_bytes, enable_SMTPUTF8=True
            ),
            host=settings.mail_in_host,
            port=settings.mail_in_port,
        )
        app.state.runtime = runtime
        app.state.smtp_port = server.sockets[0].getsockname()[1]
        log.info("mail_in_listening", host=settings.mail_in_host, port=app.state.smtp_port)
        try:
            yield
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
            await http.close()
            await runtime.stop()

    app = create_service_app(title="tickets mail-in", settings=settings, lifespan=lifespan)
    return app
