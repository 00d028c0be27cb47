"""Real SMTP servers (aiosmtpd) for the notifier's tests; nothing here is a mock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from notifier.sink import MailSink


class ScriptedHandler:
    """Answers DATA with the scripted replies first (e.g. "451 ..."), then accepts."""

    def __init__(self, replies: Iterable[str] = ()) -> None:
        self.replies: deque[str] = deque(replies)
        self.data_calls = 0
        self.accepted: list[Envelope] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.data_calls += 1
        if self.replies:
            return self.replies.popleft()
        self.accepted.append(envelope)
        if session.authenticated:
            self.logins.append(str(session.auth_data))
        return "250 OK"


@dataclass
class SmtpServer:
    handler: Any
    port: int
    server: asyncio.AbstractServer
    sessions: list[SMTP] = field(default_factory=list)

    async def stop(self) -> None:
        self.server.close()
        for smtp in self.sessions:
            if smtp.transport is not None:
                smtp.transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), timeout=1)


async def start_smtp_server(
    handler: Any, *, port: int = 0, ssl_context: ssl.SSLContext | None = None, **smtp_kwargs: Any
) -> SmtpServer:
    """Run an aiosmtpd server on 127.0.0.1 in the test's loop."""
    sessions: list[SMTP] = []

    def factory() -> SMTP:
        smtp = SMTP(handler, hostname="test-smtp", **smtp_kwargs)
        sessions.append(smtp)
        return smtp

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=port, ssl=ssl_context)
    return SmtpServer(handler, server.sockets[0].getsockname()[1], server, sessions)


def free_port() -> int:
    """A port nothing listens on right now (for "the server is down" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def smtp_servers() -> AsyncIterator[Any]:
    """Factory: ``await smtp_servers(handler, port=..., ssl_context=..., **smtp_kwargs)``."""
    started: list[SmtpServer] = []

    async def start(handler: Any, **kwargs: Any) -> SmtpServer:
        server = await start_smtp_server(handler, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            await server.stop()
        except Exception:  # noqa: S110 - already stopped by the test
            pass


@pytest.fixture
def scripted() -> type[ScriptedHandler]:
    """The ScriptedHandler class (tests cannot import conftest under importlib mode)."""
    return ScriptedHandler


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on right now."""
    return free_port()


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    """The notifier's own .eml sink on a random port."""
    async with MailSink(directory=tmp_path / "mail", port=0) as s:
        yield s


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (STARTTLS and implicit-TLS tests)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """The server side TLS context for the self-signed certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
    return ctx


@pytest.fixture
def password_auth() -> Any:
    """Factory of aiosmtpd authenticators accepting one user/password."""
    return _password_authenticator


def _password_authenticator(user: str, password: str) -> Any:
    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

    return authenticate


# --- the service on the real thing: Postgres through the migrations, RabbitMQ, an SMTP sink ---

NOTIFIER_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


@pytest.fixture(scope="session")
async def notifier_db(make_database: Any) -> Any:
    """A fresh database with the notifier schema migrated to head (once per session)."""
    from shared.migrations import upgrade

    db = await make_database()
    await upgrade(NOTIFIER_INI, db.url("notifier"))
    return db


@pytest.fixture
async def clean_db(notifier_db: Any) -> Any:
    """The session database, emptied for this test."""
    import asyncpg

    conn = await asyncpg.connect(notifier_db.admin_url())
    try:
        await conn.execute(
            "TRUNCATE notifier.deliveries, notifier.users, notifier.preferences,"
            " notifier.ticket_versions, notifier.processed_messages"
        )
    finally:
        await conn.close()
    return notifier_db


@pytest.fixture
async def db(clean_db: Any) -> AsyncIterator[Any]:
    """asyncpg connection as the superuser, for assertions on the notifier's tables."""
    import asyncpg

    conn = await asyncpg.connect(clean_db.admin_url())
    yield conn
    await conn.close()


@pytest.fixture
async def bus_url(rabbitmq_url: str) -> str:
    """The session vhost with an empty notifier queue (messages a previous test left behind)."""
    import aio_pika
    from shared.bus import declare_topology

    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        for name in ("notifier", "notifier.dlq"):
            queue = await channel.get_queue(name)
            await queue.purge()
    return rabbitmq_url


@pytest.fixture
def dead_letters(bus_url: str) -> Any:
    """``await dead_letters("notifier")``: how many messages sit in the queue's DLQ."""
    import aio_pika

    async def count(queue: str) -> int:
        connection = await aio_pika.connect(bus_url)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(f"{queue}.dlq", passive=True)
            return int(declared.declaration_result.message_count or 0)

    return count


@pytest.fixture
async def publisher(bus_url: str) -> AsyncIterator[Any]:
    """A bus connection that publishes events the way the other services do."""
    from shared.bus import Bus

    bus = Bus(bus_url, service="notifier-tests")
    await bus.start()
    assert await bus.wait_connected(15)
    yield bus
    await bus.close()


@pytest.fixture
def make_settings(clean_db: Any, bus_url: str, jwt_keys: Any) -> Any:
    """Factory of NotifierSettings pointing at this test's database, vhost and an SMTP port."""
    from notifier.settings import NotifierSettings

    def make(*, smtp_port: int, **overrides: Any) -> NotifierSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": clean_db.url("notifier"),
            "rabbitmq_url": bus_url,
            "jwt_public_key": jwt_keys.public_pem,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "mail_from": "Helpdesk <helpdesk@helpdesk.test>",
            "web_base_url": "https://help.example.test",
            "mail_retry_attempts": 3,
            "mail_retry_initial_wait": 0.05,
            "mail_retry_max_wait": 0.2,
            "mail_backoff_max": 0.5,
            "mail_poll_interval": 0.2,
            "mail_workers": 2,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return NotifierSettings(**values)

    return make


@pytest.fixture
def run_app() -> Any:
    """``async with run_app(settings) as client``: the notifier app with its lifespan running."""
    from contextlib import asynccontextmanager

    from helpdesk_testing.plugin import app_client
    from notifier.app import create_app

    @asynccontextmanager
    async def run(settings: Any) -> AsyncIterator[Any]:
        app = create_app(settings)
        async with app_client(app) as client:
            assert await app.state.runtime.bus.wait_connected(15)
            client.app = app
            yield client

    return run
