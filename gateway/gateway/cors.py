"""CORS for the API paths only: a browser app on another origin may call /api and /compat/api."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CORS_PREFIXES = ("/api/", "/compat/api/")
ALLOWED_HEADERS = ["Authorization", "Content-Type", "Accept", "Accept-Language", "Idempotency-Key", "X-Request-ID"]
EXPOSED_HEADERS = ["Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed", "ETag"]


def _is_api(path: str) -> bool:
    return path in ("/api", "/compat/api") or path.startswith(CORS_PREFIXES)


class ApiCorsMiddleware:
    """Starlette's CORS handling (preflight included) for the API paths; the rest is same-origin.

    Bearer tokens, not cookies, carry identity, so credentials are never allowed: a listed origin
    can only do what its own user's token allows.
    """

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_api(scope["path"]):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
