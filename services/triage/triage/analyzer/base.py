"""What every analyzer takes and returns: ticket text in, a validated analysis out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TicketText:
    """The untrusted text of a ticket, as the analyzer sees it."""

    title: str
    description: str


@dataclass(frozen=True)
class Example:
    """A labelled ticket to learn from; `ref` (e.g. "ticket:<uuid>", "import:<n>") is cited in notes."""

    title: str
    description: str
    category: str
    priority: str
    skills: tuple[str, ...] = ()
    resolution: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Analysis:
    """An analyzer's answer for one ticket."""

    category: str
    priority: str
    related_skills: tuple[str, ...]
    summary: str
    helpful_notes: str
    confidence: float
    provider: str
    model: str
    # what staff should know about the text itself (e.g. "the requester asked for high priority")
    flags: tuple[str, ...] = ()


class Analyzer(Protocol):
    """Turns a ticket into an analysis whose category is one of `categories`."""

    async def analyze(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis: ...
