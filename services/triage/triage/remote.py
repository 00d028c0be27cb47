"""What every remote model (Gemini, an OpenAI-compatible endpoint) shares: screening and fallback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import ClassVar, NotRequired, Protocol, TypedDict

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from triage.analyzer.base import Analysis, Analyzer, TicketText
from triage.analyzer.screen import adjust_priority, flag_lines, screen
from triage.prompt import parse_answer

log = logging.getLogger(__name__)


class RemoteAnalyzer(Protocol):
    """A remote model asked once (with its own retries); raises when it cannot answer."""

    async def ask(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis: ...


class RemoteOptions(TypedDict):
    """What every provider's constructor takes beside its own connection settings."""

    model: str
    fallback: Analyzer
    timeout_s: NotRequired[float]
    attempts: NotRequired[int]
    wait_initial_s: NotRequired[float]
    wait_max_s: NotRequired[float]
    budget_s: NotRequired[float]


class RemoteModel:
    """The part every remote provider shares: model, fallback, retry budget, `ask` and `analyze`.

    A provider says how to call it once (`_call` → answer text, model name), which failures are
    worth another try (`transient`) and which mean "unavailable" (`unavailable`).
    """

    provider: ClassVar[str]

    def __init__(
        self,
        *,
        model: str,
        fallback: Analyzer,
        timeout_s: float = 10.0,
        attempts: int = 3,
        wait_initial_s: float = 0.5,
        wait_max_s: float = 4.0,
        budget_s: float = 30.0,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.category_descriptions: Mapping[str, str] = {}
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._wait_initial_s = wait_initial_s
        self._wait_max_s = wait_max_s
        self._budget_s = budget_s

    async def _call(self, ticket: TicketText, categories: Sequence[str]) -> tuple[str | None, str]:
        raise NotImplementedError

    @staticmethod
    def transient(exc: BaseException) -> bool:
        """Whether a failure is worth another try."""
        raise NotImplementedError

    @staticmethod
    def unavailable(exc: BaseException) -> Exception | None:
        """The provider's "unavailable" error for a failure, or None to raise it as it is."""
        raise NotImplementedError

    async def ask(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        """The provider alone, with retries; raises its unavailable error or MalformedAnswer."""
        return await ask_with_retries(
            lambda: self._call(ticket, categories),
            ticket=ticket,
            categories=categories,
            provider=self.provider,
            attempts=self._attempts,
            wait_initial_s=self._wait_initial_s,
            wait_max_s=self._wait_max_s,
            budget_s=self._budget_s,
            transient=self.transient,
            unavailable=self.unavailable,
        )

    async def analyze(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        """The provider's analysis with the local one's grounded notes; the local one on failure."""
        return await combine(self, self.fallback, ticket, categories=categories, name=self.provider)


async def ask_with_retries(
    call: Callable[[], Awaitable[tuple[str | None, str]]],
    *,
    ticket: TicketText,
    categories: Sequence[str],
    provider: str,
    attempts: int,
    wait_initial_s: float,
    wait_max_s: float,
    budget_s: float,
    transient: Callable[[BaseException], bool],
    unavailable: Callable[[BaseException], Exception | None],
) -> Analysis:
    """Ask a remote model (`call` → answer text, model name) with retries; its answer validated and clamped.

    Transient failures are retried within `attempts` and `budget_s`; a failure `unavailable` turns into
    an error (the provider's "unavailable") is raised as that, anything else as it is.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(transient),
        stop=stop_after_attempt(attempts) | stop_after_delay(budget_s),
        wait=wait_exponential_jitter(initial=wait_initial_s, max=wait_max_s),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                text, model = await call()
    except Exception as exc:
        error = unavailable(exc)
        if error is None:
            raise
        raise error from exc
    ticket_text = f"{ticket.title}\n{ticket.description}"
    return parse_answer(text, categories=categories, ticket_text=ticket_text, provider=provider, model=model)


async def combine(
    remote_side: RemoteAnalyzer,
    fallback: Analyzer,
    ticket: TicketText,
    *,
    categories: Sequence[str],
    name: str,
) -> Analysis:
    """A remote model's answer on the screened ticket, with the local notes; local on failure.

    The remote model sees the ticket without the sentences that address the triage (as the local
    one does), and the requester's asked-for priority moves its answer one step at most.
    """
    local = await fallback.analyze(ticket, categories=categories)
    screened = screen(ticket.title, ticket.description)
    try:
        remote = await remote_side.ask(
            TicketText(title=screened.title, description=screened.description),
            categories=categories,
        )
    except Exception as exc:  # noqa: BLE001 - any failure of the remote side means: local
        log.warning("%s failed, local analyzer answers: %s: %s", name, type(exc).__name__, exc)
        return local
    priority, flags = adjust_priority(remote.priority, screened)
    # the local notes already start with the flags; Gemini's own come first, then the flags
    local_notes = local.helpful_notes
    head = flag_lines(flags)
    if head and local_notes.startswith(flag_lines(local.flags)):
        local_notes = local_notes[len(flag_lines(local.flags)) :].lstrip("\n")
    notes = "\n\n".join(n for n in (head, remote.helpful_notes, local_notes) if n)
    skills = remote.related_skills or local.related_skills
    return replace(remote, priority=priority, helpful_notes=notes, related_skills=skills, flags=flags)
