"""The public route table: which service answers a path, and who may call it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Rule:
    """One route of the public API: who answers it and who may call it.

    `template` names ids `{id}`; a trailing `/**` covers the path and everything below it.
    `methods` None: any method.
    """

    upstream: str
    template: str
    access: Access = Access.USER
    methods: frozenset[str] | None = None
    # the template's segments (without a trailing "**") and whether it covers what is below it,
    # split once here rather than for every rule of the table at every request
    pattern: tuple[str, ...] = field(init=False, repr=False, compare=False)
    below: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = self.template.split("/")
        below = pattern[-1] == "**"
        object.__setattr__(self, "pattern", tuple(pattern[:-1] if below else pattern))
        object.__setattr__(self, "below", below)

    def matches(self, method: str, parts: list[str]) -> bool:
        return (self.methods is None or method in self.methods) and self.matches_path(parts)

    def matches_path(self, parts: list[str]) -> bool:
        pattern = self.pattern
        if self.below:
            if len(parts) < len(pattern):
                return False
        elif len(parts) != len(pattern):
            return False
        return all(p == "{id}" or p == s for p, s in zip(pattern, parts, strict=False))


POST = frozenset({"POST"})
# /api/dead-letters/<service>/...: each consuming service owns its dead letters (admins only)
DEAD_LETTER_OWNERS = ("tickets", "triage", "notifier")


def _dead_letters(service: str) -> list[Rule]:
    base = f"/api/dead-letters/{service}"
    paths = ("", "/{id}", "/replay", "/{id}/replay", "/{id}/discard", "/**")
    return [Rule(service, base + path, Access.ADMIN) for path in paths]


# The one route table: the gateway's role checks, metric labels and OpenAPI security come from
# it. First match wins. A path under a known prefix that no row names is forwarded for any
# signed-in user (the service answers 404); add a row for every new route.
TABLE: tuple[Rule, ...] = (
    Rule("auth", "/api/auth/signup", Access.PUBLIC, POST),
    Rule("auth", "/api/auth/login", Access.PUBLIC, POST),
    Rule("auth", "/api/auth/set-password", Access.PUBLIC, POST),
    # the link of the verification mail: the token in the body is the proof
    Rule("auth", "/api/auth/verify", Access.PUBLIC, POST),
    Rule("auth", "/api/auth/resend-verification"),
    Rule("auth", "/api/auth/me"),
    Rule("auth", "/api/auth/users", Access.ADMIN),
    Rule("auth", "/api/auth/update-user", Access.ADMIN),
    Rule("tickets", "/api/tickets"),
    # before /api/tickets/{id}, so inbound-mail is not read as a ticket id
    Rule("tickets", "/api/tickets/inbound-mail", Access.ADMIN),
    Rule("tickets", "/api/tickets/inbound-mail/{id}/raw", Access.ADMIN),
    Rule("tickets", "/api/tickets/inbound-mail/**", Access.ADMIN),
    Rule("tickets", "/api/tickets/{id}"),
    Rule("tickets", "/api/tickets/{id}/comments"),
    Rule("tickets", "/api/tickets/{id}/retriage", Access.ADMIN),
    Rule("tickets", "/api/tickets/{id}/attachments"),
    Rule("tickets", "/api/tickets/{id}/attachments/{id}"),
    # the ticket's incident: a requester sees "part of a known problem" (the service decides)
    Rule("tickets", "/api/tickets/{id}/incident"),
    Rule("tickets", "/api/stats", Access.STAFF),
    Rule("tickets", "/api/incidents", Access.STAFF),
    Rule("tickets", "/api/incidents/{id}", Access.STAFF),
    Rule("tickets", "/api/incidents/{id}/members", Access.STAFF),
    Rule("tickets", "/api/incidents/{id}/log", Access.STAFF),
    Rule("tickets", "/api/incidents/{id}/detach", Access.STAFF, POST),
    Rule("tickets", "/api/incidents/{id}/merge", Access.STAFF, POST),
    Rule("tickets", "/api/incidents/{id}/updates", Access.STAFF, POST),
    Rule("tickets", "/api/incidents/{id}/resolve", Access.STAFF, POST),
    Rule("tickets", "/api/incidents/**", Access.STAFF),
    Rule("triage", "/api/triage/categories", Access.ADMIN),
    Rule("triage", "/api/triage/examples", Access.ADMIN),
    Rule("triage", "/api/triage/retrain", Access.ADMIN),
    Rule("triage", "/api/triage/model", Access.ADMIN),
    Rule("triage", "/api/triage/decisions", Access.ADMIN),
    Rule("triage", "/api/triage/**", Access.ADMIN),
    Rule("notifier", "/api/notifications/preferences"),
    Rule("notifier", "/api/notifications/failures", Access.ADMIN),
    Rule("notifier", "/api/notifications/failures/{id}/retry", Access.ADMIN),
    Rule("notifier", "/api/notifications/failures/**", Access.ADMIN),
    *(rule for service in DEAD_LETTER_OWNERS for rule in _dead_letters(service)),
)
# first segment after /api -> the service answering it (dead letters: the segment after that)
PREFIXES = {rule.template.split("/")[2]: rule.upstream for rule in TABLE if not rule.template.startswith("/api/dead-")}
# path segments that name things rather than carry ids: the rest become {id} in metric labels
_WORDS = frozenset(part for rule in TABLE for part in rule.template.split("/") if part not in ("", "{id}", "**"))

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


def _by_prefix(table: tuple[Rule, ...]) -> dict[str, tuple[Rule, ...]]:
    """The table's rules per first segment after /api, in table order (a rule whose first segment
    is an id would be in every group: first match still wins)."""
    prefixes = {rule.pattern[2] for rule in table if len(rule.pattern) > 2 and rule.pattern[2] != "{id}"}
    return {
        prefix: tuple(r for r in table if len(r.pattern) <= 2 or r.pattern[2] in (prefix, "{id}"))
        for prefix in prefixes
    }


_BY_PREFIX = _by_prefix(TABLE)
_ANY_PREFIX = tuple(r for r in TABLE if len(r.pattern) <= 2 or r.pattern[2] == "{id}")


def _rule(method: str, parts: list[str]) -> Rule | None:
    # a bare /api/<prefix> is a route only where the table names it (/api/tickets, /api/stats)
    exact_only = len(parts) == 3
    for rule in _BY_PREFIX.get(parts[2], _ANY_PREFIX):
        if rule.matches(method, parts) and not (exact_only and rule.below):
            return rule
    return None


def resolve(method: str, path: str) -> Route | None:
    """The route for a clean /api path, or None when no service answers it."""
    parts = path.split("/")
    # "", "api", "<prefix>", ...
    if len(parts) < 3 or parts[1] != "api":
        return None
    rule = _rule(method, parts)
    if rule is not None:
        return Route(rule.upstream, rule.access)
    upstream = PREFIXES.get(parts[2])
    if upstream is None or len(parts) == 3:
        return None
    return Route(upstream, Access.USER)


def metric_template(path: str) -> str:
    """A bounded label for metrics: /api/tickets/{id}/comments (the table's template when it names the path)."""
    parts = path.split("/")
    rules = _BY_PREFIX.get(parts[2], _ANY_PREFIX) if len(parts) > 2 else TABLE
    for rule in rules:
        if not rule.below and rule.matches_path(parts):
            return rule.template
    return "/".join(s if s in _WORDS or not s else "{id}" for s in parts)


def openapi_access(method: str, path_template: str) -> Access:
    """Access of an OpenAPI path template such as /api/tickets/{ticket_id}/retriage."""
    concrete = re.sub(r"\{[^}/]+\}", "x", path_template)
    route = resolve(method.upper(), concrete)
    return route.access if route else Access.USER
