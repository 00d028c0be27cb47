"""Real SMTP servers (aiosmtpd) for the notifier's tests; nothing here is a mock."""

from __future__ import annotations

import asyncio
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
        await asyncio.wait_for(self.server.wait_closed(), timeout=5)


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
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
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
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(
            success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None
        )

    return authenticate
