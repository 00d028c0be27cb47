"""Gemini analyzer: structured output, a timeout, tenacity retries, then the local analyzer.

Implements the same `Analyzer` protocol as the local one. Failures never reach the caller: after
the retry budget (or on an answer that does not validate) the local analyzer answers instead,
and its own grounded notes (similar past tickets) are kept alongside Gemini's in any case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Unpack

import aiohttp
import httpx
from google import genai
from google.genai import errors, types

from triage.analyzer.base import TicketText
from triage.prompt import build_prompt, response_schema
from triage.remote import RemoteModel, RemoteOptions

log = logging.getLogger(__name__)

PROVIDER = "gemini"


class GeminiUnavailable(RuntimeError):
    """Gemini did not answer usefully within the retry budget."""


def is_transient(exc: BaseException) -> bool:
    """429, 408 and 5xx answers, timeouts and dropped connections are worth another try."""
    if isinstance(exc, errors.APIError):
        return exc.code in (408, 429) or exc.code >= 500
    return isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ClientError | httpx.TransportError)


def _unavailable(exc: BaseException) -> Exception | None:
    if is_transient(exc) or isinstance(exc, errors.APIError):
        return GeminiUnavailable(f"{type(exc).__name__}: {exc}"[:300])
    return None


class GeminiAnalyzer(RemoteModel):
    """Analyzer backed by the Gemini API, falling back to `fallback` (the local analyzer)."""

    provider = PROVIDER
    transient = staticmethod(is_transient)
    unavailable = staticmethod(_unavailable)

    def __init__(self, *, api_key: str, base_url: str | None = None, **common: Unpack[RemoteOptions]) -> None:
        super().__init__(**common)
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                # v1beta carries structured output (response schemas) for every model.
                api_version="v1beta",
                timeout=int(self._timeout_s * 1000),
                # One attempt per SDK call: tenacity below owns the retries.
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    async def aclose(self) -> None:
        """Close the HTTP session of the SDK."""
        await self._client.aio.aclose()

    async def _call(self, ticket: TicketText, categories: Sequence[str]) -> tuple[str | None, str]:
        prompt = build_prompt(
            title=ticket.title,
            description=ticket.description,
            categories=categories,
            descriptions=self.category_descriptions,
        )
        config = types.GenerateContentConfig(
            system_instruction=prompt.system,
            response_mime_type="application/json",
            response_schema=response_schema(categories),
            temperature=0.0,
            max_output_tokens=1024,
        )
        # The SDK's own timeout covers the HTTP exchange; this one also bounds the parsing.
        async with asyncio.timeout(self._timeout_s + 1.0):
            response = await self._client.aio.models.generate_content(
                model=self.model,
                contents=[types.Content(role="user", parts=[types.Part(text=prompt.user)])],
                config=config,
            )
        return response.text, response.model_version or self.model
