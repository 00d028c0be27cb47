"""Analyzer for any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, hosted).

Same contract as the Gemini one: the screened ticket as delimited data, a JSON-schema answer
(`response_format`), strict parsing and clamping (`prompt.parse_answer`), a timeout, tenacity
retries on 408/429/5xx, timeouts and dropped connections, then the local analyzer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Unpack

import httpx

from triage.analyzer.base import TicketText
from triage.prompt import MalformedAnswer, build_prompt, json_schema
from triage.remote import RemoteModel, RemoteOptions

log = logging.getLogger(__name__)

PROVIDER = "openai"


class EndpointError(RuntimeError):
    """The endpoint answered with an HTTP error status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:200]}")
        self.status = status


class EndpointUnavailable(RuntimeError):
    """The endpoint did not answer usefully within the retry budget."""


def is_transient(exc: BaseException) -> bool:
    """429, 408 and 5xx answers, timeouts and dropped connections are worth another try."""
    if isinstance(exc, EndpointError):
        return exc.status in (408, 429) or exc.status >= 500
    return isinstance(exc, TimeoutError | asyncio.TimeoutError | httpx.TransportError)


def _unavailable(exc: BaseException) -> Exception | None:
    if isinstance(exc, EndpointError | TimeoutError | httpx.HTTPError):
        return EndpointUnavailable(f"{type(exc).__name__}: {exc}"[:300])
    return None


class OpenAICompatAnalyzer(RemoteModel):
    """Analyzer backed by a `/chat/completions` endpoint, falling back to `fallback` (local)."""

    provider = PROVIDER
    transient = staticmethod(is_transient)
    unavailable = staticmethod(_unavailable)

    def __init__(self, *, base_url: str, api_key: str | None = None, **common: Unpack[RemoteOptions]) -> None:
        super().__init__(**common)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=self._timeout_s)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _call(self, ticket: TicketText, categories: Sequence[str]) -> tuple[str | None, str]:
        prompt = build_prompt(
            title=ticket.title,
            description=ticket.description,
            categories=categories,
            descriptions=self.category_descriptions,
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "temperature": 0,
            "max_tokens": 1024,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "triage", "strict": True, "schema": json_schema(categories)},
            },
        }
        async with asyncio.timeout(self._timeout_s + 1.0):
            response = await self._client.post("chat/completions", json=body)
        if response.status_code >= 400:
            raise EndpointError(response.status_code, response.text)
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MalformedAnswer("not a chat completion") from exc
        model = data.get("model") if isinstance(data.get("model"), str) else self.model
        return (content if isinstance(content, str) else None), model
