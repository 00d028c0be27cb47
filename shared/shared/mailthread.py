"""Signed reply tokens: what ties a mail reply to its ticket (notifier writes, inbound mail reads).

A token is `t-<ticket id, 32 hex>-<HMAC-SHA256 of it under MAIL_REPLY_SECRET, 20 hex>`. It goes in
the Reply-To address (`support+<token>@domain`) and in the References of every mail about a
ticket, so a reply finds its ticket whichever of the two the mail client keeps. Without the
secret nobody can make one for another ticket: a guessed or edited reference is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

DEV_REPLY_SECRET = "dev-only-reply-secret"  # noqa: S105 - refused in production (settings)
_TOKEN = re.compile(r"\bt-([0-9a-f]{32})-([0-9a-f]{1,64})\b", re.IGNORECASE)
_SIG_HEX = 20


def _signature(ticket_id: uuid.UUID, secret: str) -> str:
    digest = hmac.new(secret.encode(), b"reply:" + ticket_id.bytes, hashlib.sha256).hexdigest()
    return digest[:_SIG_HEX]


def reply_token(ticket_id: uuid.UUID, secret: str) -> str:
    """The token naming this ticket."""
    return f"t-{ticket_id.hex}-{_signature(ticket_id, secret)}"


def reply_address(support_address: str, ticket_id: uuid.UUID, secret: str) -> str:
    """support+<token>@domain: replies come back to the support mailbox, tagged with the ticket."""
    local, _, domain = support_address.rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}+{reply_token(ticket_id, secret)}@{domain}"


def thread_reference(ticket_id: uuid.UUID, secret: str, domain: str) -> str:
    """A Message-ID-shaped reference carrying the token, for References / In-Reply-To."""
    return f"<{reply_token(ticket_id, secret)}@{domain}>"


def find_tokens(text: str, secret: str) -> tuple[set[uuid.UUID], int]:
    """Tickets named by valid tokens in `text`, and how many token-shaped strings were forged."""
    valid: set[uuid.UUID] = set()
    forged = 0
    for match in _TOKEN.finditer(text):
        ticket_id = uuid.UUID(match.group(1))
        if hmac.compare_digest(match.group(2).lower(), _signature(ticket_id, secret)):
            valid.add(ticket_id)
        else:
            forged += 1
    return valid, forged
