"""A local server that speaks the Gemini REST API (generateContent), with a programmable queue.

Tests push replies (an answer, an error status, raw text, a delay) and read back the requests
the SDK sent. It is a real HTTP server on 127.0.0.1, so the real google-genai client talks to it.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .local_server import serve


@dataclass
class Reply:
    """One programmed reply: JSON or raw text, with a status and an optional delay first."""

    status: int = 200
    body: Any = None  # dict/list → JSON; str → sent as is
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def answer(payload: Any, *, model: str = "gemini-fake-001") -> Reply:
    """A 200 reply whose only candidate's text is `payload` (JSON-encoded unless a str)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return Reply(
        body={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20},
            "modelVersion": model,
        }
    )


def error(status: int, message: str = "error", *, grpc_status: str = "UNAVAILABLE") -> Reply:
    """An error reply in Google's JSON error shape."""
    return Reply(
        status=status,
        body={"error": {"code": status, "message": message, "status": grpc_status}},
    )


def too_many_requests() -> Reply:
    """A 429 as Gemini sends it when the quota is exhausted."""
    return error(429, "Resource has been exhausted", grpc_status="RESOURCE_EXHAUSTED")


class FakeGemini:
    """`async with FakeGemini() as fake:` → `fake.base_url`; `fake.push(...)`; `fake.requests`."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Reply | None = None  # used when the queue is empty (else a loud 500)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def push(self, *replies: Reply) -> None:
        """Queue replies, served in order, one per request."""
        self.queue.extend(replies)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if not tail.endswith(":generateContent"):
            return web.json_response({"error": {"code": 404, "message": "unknown method"}}, status=404)
        body = await request.json()
        self.requests.append(
            {
                "model": tail.removesuffix(":generateContent"),
                "api_key": request.headers.get("x-goog-api-key"),
                "body": body,
            }
        )
        reply = self.queue.popleft() if self.queue else self.default
        if reply is None:
            return web.json_response(
                {"error": {"code": 500, "message": "fake gemini: no reply programmed"}}, status=500
            )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, str):
            return web.Response(
                status=reply.status, text=reply.body, headers=reply.headers, content_type="application/json"
            )
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns the base URL."""
        app = web.Application()
        app.router.add_post("/v1beta/models/{tail}", self._generate)
        self._runner, port = await serve(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGemini:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
