"""Local SMTP sink: an aiosmtpd server that stores every message it accepts as a .eml file.

Run it with ``python -m notifier.sink --port 1025 --dir var/mail``. In dev the notifier sends
here (``SMTP_HOST=127.0.0.1``, ``SMTP_PORT=1025``) so no mail ever leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025


def _envelope_header(envelope: Envelope) -> bytes:
    # The envelope is not part of the message (Bcc recipients only live there), so it is
    # prepended as trace headers the way a delivering MTA adds Return-Path / Delivered-To.
    mail_from = (envelope.mail_from or "").replace("\r", "").replace("\n", "")
    rcpt_to = ", ".join(r.replace("\r", "").replace("\n", "") for r in envelope.rcpt_tos)
    return f"X-Sink-Mail-From: <{mail_from}>\r\nX-Sink-Rcpt-To: {rcpt_to}\r\n".encode()


def _write_atomically(directory: Path, content: bytes) -> Path:
    # Written under a dot-name and renamed, so a watcher never reads half a message.
    name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
    tmp = directory / f".{name}.tmp"
    with tmp.open("wb") as fh:
        fh.write(content)
    final = directory / name
    os.replace(tmp, final)
    return final


class MaildirHandler:
    """aiosmtpd handler that writes each accepted message to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Store the message and accept it."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        await asyncio.to_thread(_write_atomically, self.directory, _envelope_header(envelope) + raw)
        return "250 OK: stored"


class MailSink:
    """An SMTP server on ``host:port`` that stores messages under ``directory``."""

    def __init__(self, *, directory: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self.handler: Any = MaildirHandler(self.directory)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen; with ``port=0`` the chosen port is in ``self.port`` afterwards."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self.handler, hostname="helpdesk-sink", enable_SMTPUTF8=True),
            host=self.host,
            port=self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close open sessions."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            self._server = None

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(*, directory: Path, host: str, port: int) -> None:
    """Run the sink until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with MailSink(directory=directory, host=host, port=port) as sink:
        print(f"SMTP sink on {sink.host}:{sink.port}, storing mail in {sink.directory}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Local SMTP sink that stores mail as .eml files")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--dir", default="var/mail", type=Path)
    args = parser.parse_args(argv)
    asyncio.run(serve(directory=args.dir, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
