"""Reading what an SMTP server received: the sink's .eml files or a handler's envelopes."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path


def count_mails(directory: Path) -> int:
    """How many messages the sink stored."""
    return sum(1 for _ in directory.glob("*.eml"))


def read_mails(directory: Path) -> list[EmailMessage]:
    """Every message the sink stored, oldest first."""
    mails = []
    for path in sorted(directory.glob("*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        mails.append(parsed)
    return mails


async def wait_for_mails(
    directory: Path, count: int, *, timeout: float = 20.0, settle: float = 0.3
) -> list[EmailMessage]:
    """Wait until at least `count` mails arrived, then a little longer to catch extra ones."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while count_mails(directory) < count:
        if loop.time() > deadline:
            got = count_mails(directory)
            raise AssertionError(f"expected {count} mails within {timeout}s, got {got}")
        await asyncio.sleep(0.02)
    await asyncio.sleep(settle)
    return read_mails(directory)


def body(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def of_kind(mails: list[EmailMessage], kind: str) -> list[EmailMessage]:
    return [m for m in mails if m["X-Helpdesk-Kind"] == kind]
