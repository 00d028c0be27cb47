"""The public route table: which service answers a path, and who may call it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Access(StrEnum):
    PUBLIC = "public"  # no token
    USER = "user"  # any signed-in user; the service does the object-level checks
    STAFF = "staff"  # moderators and admins
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Route:
    upstream: str
    access: Access


# first segment after /api -> the service answering it
PREFIXES = {
    "auth": "auth",
    "tickets": "tickets",
    "stats": "tickets",
    "incidents": "tickets",
    "triage": "triage",
    "notifications": "notifier",
}
# /api/dead-letters/<service>/...: each consuming service owns its dead letters (admins only)
DEAD_LETTER_OWNERS = frozenset({"tickets", "triage", "notifier"})

# (method or None for any method, path pattern) -> access other than USER
_PUBLIC = {
    ("POST", "/api/auth/signup"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/set-password"),
    # the link of the verification mail: the token in the body is the proof
    ("POST", "/api/auth/verify"),
}
_ADMIN_PATTERNS = [
    re.compile(r"/api/auth/users"),
    re.compile(r"/api/auth/update-user"),
    re.compile(r"/api/triage(/.*)?"),
    re.compile(r"/api/tickets/[^/]+/retriage"),
    re.compile(r"/api/tickets/inbound-mail(/.*)?"),
    re.compile(r"/api/notifications/failures(/.*)?"),
]
_STAFF_PATTERNS = [re.compile(r"/api/stats"), re.compile(r"/api/incidents(/.*)?")]
# Percent-encoded dots, slashes and backslashes could make a service see another path than the
# one the role check saw (or reach /internal after normalisation): refuse them outright.
_ENCODED_TRICKS = re.compile(rb"%(2e|2f|5c|00)", re.IGNORECASE)


def path_is_clean(path: str, raw_path: bytes | None) -> bool:
    """No empty, '.' or '..' segments, no backslashes, no encoded separators."""
    if raw_path is not None and _ENCODED_TRICKS.search(raw_path):
        return False
    if "\\" in path or "\x00" in path:
        return False
    segments = path.split("/")[1:]
    return all(segment not in ("", ".", "..") for segment in segments)


def resolve(method: str, path: str) -> Route | None:
    """The route for a clean /api path, or None when no service answers it."""
    parts = path.split("/")
    # "", "api", "<prefix>", ...
    if len(parts) < 3 or parts[1] != "api":
        return None
    if parts[2] == "dead-letters":
        if len(parts) < 4 or parts[3] not in DEAD_LETTER_OWNERS:
            return None
        return Route(parts[3], Access.ADMIN)
    upstream = PREFIXES.get(parts[2])
    if upstream is None:
        return None
    # /api/auth and /api/triage alone are no routes; /api/tickets, /api/stats and /api/incidents are
    if len(parts) == 3 and parts[2] not in ("tickets", "stats", "incidents"):
        return None
    if (method, path) in _PUBLIC:
        return Route(upstream, Access.PUBLIC)
    if any(pattern.fullmatch(path) for pattern in _ADMIN_PATTERNS):
        return Route(upstream, Access.ADMIN)
    if any(pattern.fullmatch(path) for pattern in _STAFF_PATTERNS):
        return Route(upstream, Access.STAFF)
    return Route(upstream, Access.USER)


# path segments that name things rather than carry ids; the rest become {id} in metric labels
_WORDS = frozenset(
    "api auth signup login set-password verify resend-verification me users update-user tickets comments retriage "
    "triage categories "
    "examples retrain model decisions notifications preferences failures retry dead-letters "
    "notifier replay discard inbound-mail raw attachments stats incidents incident members log detach merge resolve "
    "updates".split()
)


def metric_template(path: str) -> str:
    """A bounded label for metrics: /api/tickets/{id}/comments."""
    return "/".join(s if s in _WORDS or not s else "{id}" for s in path.split("/"))


def openapi_access(method: str, path_template: str) -> Access:
    """Access of an OpenAPI path template such as /api/tickets/{ticket_id}/retriage."""
    concrete = re.sub(r"\{[^}/]+\}", "x", path_template)
    route = resolve(method.upper(), concrete)
    return route.access if route else Access.USER
