"""A local server that speaks the OpenAI chat-completions API, with a programmable queue.

Like `fake_gemini`: tests push replies (an answer, an error status, raw text, a delay) and read
back the requests. It is a real HTTP server on 127.0.0.1 that the real httpx client talks to.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from aiohttp import web

from .fake_gemini import Reply
from .local_server import serve


def completion(payload: Any, *, model: str = "llama-fake-8b") -> Reply:
    """A 200 reply whose only choice's message content is `payload` (JSON-encoded unless a str)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    )


def failure(status: int, message: str = "error") -> Reply:
    """An error reply in OpenAI's JSON error shape."""
    return Reply(status=status, body={"error": {"message": message, "type": "server_error"}})


class FakeOpenAI:
    """`async with FakeOpenAI() as fake:` → `fake.base_url` (…/v1); `fake.push(...)`; `fake.requests`."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def push(self, *replies: Reply) -> None:
        """Queue replies, served in order, one per request."""
        self.queue.extend(replies)

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"authorization": request.headers.get("Authorization"), "body": body})
        if not self.queue:
            return web.json_response({"error": {"message": "fake openai: no reply programmed"}}, status=500)
        reply = self.queue.popleft()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, str):
            return web.Response(status=reply.status, text=reply.body, content_type="application/json")
        return web.json_response(reply.body, status=reply.status)

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner, port = await serve(app)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
