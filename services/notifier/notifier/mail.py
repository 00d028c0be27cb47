"""Rendering of the notifier's mails: Jinja2 templates to a text+HTML EmailMessage.

Everything that comes from a ticket, a user or the model is untrusted:
- HTML bodies are rendered with autoescape, so no markup from a ticket survives;
- URLs and host-like tokens in untrusted text are defanged (``https://x.example`` →
  ``https[:]//x[.]example``, ``x.example/reset`` → ``x[.]example/reset``) in the subject and
  both parts, so neither our HTML nor a mail client's auto-linker turns them into links. The only
  ``<a>`` in a mail is the link we build ourselves (``{WEB_BASE_URL}/tickets/{id}``);
- header values (Subject, display names) lose CR/LF and every other control or format character,
  so a title cannot inject headers or reorder text with bidi overrides.
"""

from __future__ import annotations

import enum
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from urllib.parse import quote

import jinja2


class MailKind(enum.StrEnum):
    """The kinds of mail; the values double as template names and preference keys."""

    TICKET_ASSIGNED = "ticket_assigned"
    TICKET_RESOLVED = "ticket_resolved"
    TRIAGE_FAILED = "triage_failed"
    WELCOME = "welcome"
    TICKET_COMMENTED = "ticket_commented"
    # incidents (notifier.incidents): the owner once per incident, admins once when it grows large
    INCIDENT_ASSIGNED = "incident_assigned"
    INCIDENT_LARGE = "incident_large"
    # the one mail an unverified account gets: its verification link (no preference turns it off)
    VERIFY_EMAIL = "verify_email"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """Subject and bodies of one mail, ready to be stored and sent."""

    subject: str
    text: str
    html: str


_SUBJECT_MAX = 200
_NAME_MAX = 100
_WHITESPACE = re.compile(r"\s+")
# Control (Cc), format (Cf: zero-width, bidi overrides), line/paragraph separators and
# unassigned/private/surrogate code points have no place in a header.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def sanitize_header(value: str, *, max_length: int = _SUBJECT_MAX) -> str:
    """Make untrusted text safe for one header line: no CR/LF or control characters."""
    cleaned = "".join(" " if unicodedata.category(ch) in _DROP_CATEGORIES else ch for ch in str(value))
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    # "=?charset?q?...?=" in a title would be decoded by mail clients as an RFC 2047 encoded
    # word (hiding text, or smuggling characters we just removed): break the opener.
    cleaned = cleaned.replace("=?", "= ?")
    if len(cleaned) > max_length:
        cleaned = cleaned[: max_length - 1].rstrip() + "…"
    return cleaned


_SCHEME_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,31}):(//|\\\\)([^\s/?#<>\"'\\]*)")
_WWW = re.compile(r"(?i)\bwww\.")
_MAILTO = re.compile(r"(?i)\bmailto:")
# Dots as IDNA reads them: a full stop, the ideographic one and the full-width ones
_DOT = "[.\u3002\uff0e\uff61]"
# Anything a mail client may take for a host name, with or without a scheme ("evil.example/reset",
# "report.zip": .zip is a real TLD, so no list of TLDs is safe): dotted labels ending in a letter
_HOST = re.compile(rf"(?<![\w-])(?:[^\W_][\w-]*{_DOT})+[^\W\d_][\w-]*(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_DOTS = re.compile(_DOT)
# every pattern above needs a dot or a colon: text without either (names, categories, most
# titles) is returned as it is, without running the five of them
_ANY_TRIGGER = re.compile(r"[.:\u3002\uff0e\uff61]")


def defang(value: object) -> str:
    """Break URLs and every host-like token in untrusted text, so that nothing links them."""
    if value is None:
        return ""
    text = str(value)
    if not _ANY_TRIGGER.search(text):
        return text

    def _url(match: re.Match[str]) -> str:
        scheme, slashes, host = match.group(1), match.group(2), match.group(3)
        return f"{scheme}[:]{slashes}{host.replace('.', '[.]')}"

    def _host(match: re.Match[str]) -> str:
        return _DOTS.sub("[.]", match.group(0))

    text = _SCHEME_URL.sub(_url, text)
    text = _WWW.sub("www[.]", text)
    text = _HOST.sub(_host, text)
    text = _IPV4.sub(_host, text)
    return _MAILTO.sub("mailto[:]", text)


def _format_time(value: object) -> str:
    if value is None or value == "":
        return "not set"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _or_unset(value: object) -> object:
    return "not set" if value is None or value == "" else value


def incident_url(web_base_url: str, incident_id: uuid.UUID | str) -> str:
    """The web app's page for an incident (staff): ``{WEB_BASE_URL}/incidents/{id}``."""
    return f"{web_base_url.rstrip('/')}/incidents/{quote(str(incident_id), safe='')}"


def ticket_url(web_base_url: str, ticket_id: uuid.UUID | str) -> str:
    """The web app's page for a ticket: ``{WEB_BASE_URL}/tickets/{id}``."""
    return f"{web_base_url.rstrip('/')}/tickets/{quote(str(ticket_id), safe='')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("notifier", "templates"),
        # .html templates escape everything; .txt ones are plain text and must not.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["untrusted"] = defang
    env.filters["when"] = _format_time
    env.filters["or_unset"] = _or_unset
    return env


_ENV = _environment()


def render(kind: MailKind, context: Mapping[str, Any]) -> RenderedMail:
    """Render the subject, plain-text and HTML bodies of one mail kind."""
    subject = _ENV.get_template(f"{kind.value}.subject.txt").render(context)
    return RenderedMail(
        subject=sanitize_header(subject),
        text=_ENV.get_template(f"{kind.value}.txt").render(context),
        html=_ENV.get_template(f"{kind.value}.html").render(context),
    )


# The legacy (compat32) email API: the modern one spends ~20 ms of CPU per message in its
# header registry (most of a mail's cost under a burst), and its folder mangles some subjects
# (a leading space, spaces lost between encoded words). compat32 folds them losslessly.
MESSAGE_POLICY = email_policy.compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable .eml files, and 7bit-safe (no 8BITMIME needed)
_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")


def _header_text(value: str) -> str | Header:
    # Non-ASCII goes out as RFC 2047 encoded words (folded between words, which decoding ignores).
    return value if value.isascii() else Header(value, "utf-8")


def format_address(*, email: str, name: str | None) -> str:
    """A header address with a sanitised display name; ValueError for a malformed address."""
    addr = email.strip()
    if not _ADDR_SPEC.fullmatch(addr) or len(addr) > 320:
        raise ValueError(f"not an email address: {addr[:80]!r}")
    display = sanitize_header(name or "", max_length=_NAME_MAX)
    return formataddr((display, addr), charset="utf-8")


def build_message(
    *,
    mail: RenderedMail,
    sender: str,
    recipient_email: str,
    recipient_name: str | None,
    message_id: str,
    kind: MailKind | str,
    ticket_id: uuid.UUID | str | None = None,
    date: datetime | None = None,
    reply_to: str | None = None,
    references: str | None = None,
) -> Message:
    """Build a multipart/alternative message (text first, then HTML).

    With `reply_to` and `references` (the signed token of the ticket, shared.mailthread), a
    reply lands on the ticket as a comment.
    """
    message = MIMEMultipart("alternative", policy=MESSAGE_POLICY)
    sender_name, sender_addr = parseaddr(sender)
    message["From"] = format_address(email=sender_addr, name=sender_name)
    message["To"] = format_address(email=recipient_email, name=recipient_name)
    message["Subject"] = _header_text(sanitize_header(mail.subject))  # type: ignore[assignment]  # Header is fine
    message["Date"] = format_datetime(date or datetime.now(UTC))
    # A stable Message-ID per delivery lets a receiving system drop the rare duplicate.
    message["Message-ID"] = message_id
    # RFC 3834: tells auto-responders (out-of-office) not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Helpdesk-Kind"] = str(MailKind(kind).value)
    if ticket_id is not None:
        message["X-Helpdesk-Ticket"] = str(uuid.UUID(str(ticket_id)))
    if reply_to is not None:
        message["Reply-To"] = format_address(email=reply_to, name=sender_name)
    if references is not None:
        message["References"] = references
        message["In-Reply-To"] = references
    # MIMEText takes a Charset too (typeshed says str): it is how we get quoted-printable.
    message.attach(MIMEText(mail.text, "plain", _UTF8_QP, policy=MESSAGE_POLICY))  # type: ignore[arg-type]
    message.attach(MIMEText(mail.html, "html", _UTF8_QP, policy=MESSAGE_POLICY))  # type: ignore[arg-type]
    return message
