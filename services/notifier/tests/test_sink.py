"""The local sink stores each accepted message as one .eml file."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from notifier.sink import MailSink


def _message(subject: str, to: str = "a@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "helpdesk@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("hello ✓")
    return msg


async def test_each_message_becomes_one_eml_file(sink: MailSink) -> None:
    for i in range(3):
        await aiosmtplib.send(_message(f"mail {i}"), hostname=sink.host, port=sink.port)
    files = sorted(sink.directory.glob("*.eml"))
    assert len(files) == 3
    subjects = set()
    for path in files:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        subjects.add(parsed["Subject"])
        assert parsed["X-Sink-Rcpt-To"] == "a@example.org"
        assert parsed.get_content().strip() == "hello ✓"
    assert subjects == {"mail 0", "mail 1", "mail 2"}
    assert not list(sink.directory.glob(".*.tmp"))


async def test_envelope_recipients_are_kept(sink: MailSink) -> None:
    await aiosmtplib.send(
        _message("bcc"),
        hostname=sink.host,
        port=sink.port,
        recipients=["a@example.org", "hidden@example.org"],
    )
    (path,) = sink.directory.glob("*.eml")
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["X-Sink-Rcpt-To"] == "a@example.org, hidden@example.org"


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"sink did not listen on {port}")


async def test_command_line_sink(tmp_path: Path, unused_port: int) -> None:
    """`python -m notifier.sink --port N --dir D` is what `make up` runs."""
    directory = tmp_path / "var" / "mail"
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "notifier.sink", "--port", str(unused_port)),
        *("--dir", str(directory)),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await asyncio.to_thread(_wait_for_port, unused_port)
        await aiosmtplib.send(_message("from the cli"), hostname="127.0.0.1", port=unused_port)
        (path,) = directory.glob("*.eml")
        assert b"Subject: from the cli" in path.read_bytes()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
