"""Reading a support mail: sender, subject, the new text (HTML converted, quotes and signature
cut), attachments, and the signs of mail that must not open a ticket (auto-replies, bounces)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]+$")
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# where the quoted history of a reply starts, in the common clients' wordings
_QUOTE_HEADERS = (
    re.compile(r"^\s*On .{0,300}wrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le .{0,300}a écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am .{0,300}schrieb .{0,200}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*From:\s.+$", re.IGNORECASE),
)
_SIGNATURE_STARTS = (
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*Sent from my .{1,60}$", re.IGNORECASE),
    re.compile(r"^\s*Get Outlook for .{1,40}$", re.IGNORECASE),
)
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|noreply-dmarc|bounce[s]?)(@|$)", re.IGNORECASE)


class UnparseableMailError(ValueError):
    """The mail has no usable sender (or could not be read at all)."""


@dataclass(frozen=True, slots=True)
class MailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class ParsedMail:
    message_id: str
    sender: str
    sender_name: str | None
    subject: str
    text: str
    headers_for_threading: str
    auto_reason: str | None
    attachments: list[MailAttachment] = field(default_factory=list)

    @property
    def title(self) -> str:
        subject = _REPLY_PREFIX.sub("", self.subject).strip()
        if len(subject) < 3:
            subject = f"Mail from {self.sender}"
        return subject[:TITLE_MAX]

    @property
    def description(self) -> str:
        return (self.text or "(the mail had no text)")[:DESCRIPTION_MAX]


class _HtmlText(HTMLParser):
    """HTML to plain text: block elements become line breaks, scripts and styles vanish."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag == "blockquote":
            self._quote += 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1
        elif tag == "blockquote" and self._quote:
            self._quote -= 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # quoted history sits in <blockquote> in HTML replies: cut it like "> " lines
        if not self._skip and not self._quote:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_reply(text: str) -> str:
    """The new text of a mail: quoted history and the signature cut off."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith(">"):
            continue
        if any(p.match(line) for p in _QUOTE_HEADERS) and any(k.strip() for k in kept):
            break
        if any(p.match(line) for p in _SIGNATURE_STARTS):
            break
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip().replace("\x00", "")


def auto_reason(message: EmailMessage, envelope_from: str | None, sender: str) -> str | None:
    """Why this mail is machine-made (and must not open or touch a ticket), or None."""
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if message.get(header) is not None:
            return f"{header} present"
    if message.get("X-Helpdesk-Kind") is not None:
        return "one of our own mails"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "bounce (empty return path)"
    if message.get_content_type() == "multipart/report" or _BOUNCE_SENDERS.match(sender):
        return "bounce (delivery report)"
    return None


def _attachments(message: EmailMessage) -> list[MailAttachment]:
    found: list[MailAttachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if disposition != "attachment" and not filename:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        name = re.sub(r"[\x00-\x1f/\\]", "_", filename or "attachment")[:200] or "attachment"
        found.append(MailAttachment(filename=name, content_type=part.get_content_type()[:100], data=payload))
    return found


def _body(message: EmailMessage) -> str:
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        content = plain.get_content()
        if isinstance(content, str) and content.strip():
            return strip_reply(content)
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        content = html.get_content()
        if isinstance(content, str):
            return strip_reply(html_to_text(content))
    return ""


def message_key(raw: bytes, message_id: str | None) -> str:
    """What identifies a delivery: its Message-ID, or a hash of the bytes when it has none."""
    cleaned = (message_id or "").strip()[:500]
    return cleaned or "sha256:" + hashlib.sha256(raw).hexdigest()


def parse(raw: bytes, *, envelope_from: str | None = None) -> ParsedMail:
    """Read a mail; UnparseableMailError when it has no usable sender or cannot be read."""
    try:
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        from_header = str(message.get("From", ""))
        name, address = parseaddr(from_header)
        address = address.strip().lower()
        if not _ADDRESS.match(address) or len(address) > 320:
            raise UnparseableMailError(f"no usable From address: {from_header[:120]!r}")
        subject = " ".join(str(message.get("Subject", "")).split()).replace("\x00", "")
        threading = " ".join(
            str(message.get(h, "")) for h in ("In-Reply-To", "References", "To", "Cc", "Delivered-To", "X-Original-To")
        )
        text = _body(message)
        attachments = _attachments(message)
        reason = auto_reason(message, envelope_from, address)
        message_id = message_key(raw, str(message.get("Message-ID", "") or ""))
    except UnparseableMailError:
        raise
    except Exception as exc:  # noqa: BLE001 - a mail that breaks the parser is kept, not lost
        raise UnparseableMailError(f"unreadable mail: {type(exc).__name__}: {str(exc)[:200]}") from exc
    clean_name = " ".join(name.split())[:100] or None
    return ParsedMail(
        message_id=message_id,
        sender=address,
        sender_name=clean_name,
        subject=subject,
        text=text,
        headers_for_threading=threading,
        auto_reason=reason,
        attachments=attachments,
    )


def recipients_text(addresses: list[str]) -> str:
    return " ".join(addr for _, addr in getaddresses(addresses))
