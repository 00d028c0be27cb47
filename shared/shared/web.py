"""What every FastAPI app of the system has: errors, ids, logs, metrics, health, body limit."""

from __future__ import annotations

import gc
import hmac
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.jwt import CachingVerifier, TokenVerifier
from shared.logging import bind_contextvars, clear_contextvars, configure_logging, get_logger
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.problems import install_problem_handlers, problem_response
from shared.settings import ServiceSettings
from shared.tracing import TracingMiddleware

log = get_logger("http")
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
REQUEST_ID_HEADER = "x-request-id"
DEFAULT_BODY_LIMIT = 64 * 1024
# requests at least this slow are always in the access log, whatever ACCESS_LOG_SAMPLE says
ACCESS_LOG_SLOW_S = 1.0


_FROZEN: list[bool] = []


def _freeze_start_up_objects() -> None:
    """Move everything start-up made (modules, routes, models, pools) out of the collector's sight.

    The cyclic collector otherwise walks those objects again at every older-generation pass,
    paid by whichever request happens to allocate at that moment; frozen objects are never
    freed, which is what long-lived start-up state is anyway. Once per process (tests build
    many apps in one process: their garbage must stay collectable).
    """
    if _FROZEN:
        return
    _FROZEN.append(True)
    gc.collect()
    gc.freeze()


def _freezing(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
    """`lifespan` followed, once the app has started, by `_freeze_start_up_objects`."""

    @asynccontextmanager
    async def frozen_after_start(app: FastAPI) -> AsyncIterator[Any]:
        if lifespan is None:
            _freeze_start_up_objects()
            yield None
            return
        async with lifespan(app) as state:
            _freeze_start_up_objects()
            yield state

    return frozen_after_start


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_.:" for c in value)


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one label set, looked up once per process.

    `labels()` takes a lock and builds a key per call; the label sets are bounded (route
    templates, methods, statuses), so their children are kept here.
    """
    key = (method, template, status)
    series = _SERIES.get(key)
    if series is None:
        series = (HTTP_REQUESTS.labels(method, template, str(status)), HTTP_LATENCY.labels(method, template))
        _SERIES[key] = series
    return series


class RequestContextMiddleware:
    """Binds a request id (taken from X-Request-ID or made), logs and measures each request."""

    def __init__(self, app: ASGIApp, access_log_sample: float = 1.0) -> None:
        self.app = app
        self.sample = access_log_sample

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _valid_request_id(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        clear_contextvars()
        bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            if template not in ("/healthz", "/readyz", "/metrics"):
                counter, latency = _series(method, template, status)
                counter.inc()
                latency.observe(elapsed)
                if (
                    self.sample >= 1.0 or status >= 400 or elapsed >= ACCESS_LOG_SLOW_S or random.random() < self.sample  # noqa: S311 - sampling, not secrecy
                ):
                    log.info("request", method=method, path=template, status=status, ms=round(elapsed * 1000, 1))
            clear_contextvars()


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, by header and while streaming.

    `larger` names exact paths allowed a bigger body (a bulk import, say).
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_BODY_LIMIT, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max = max_bytes
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.default_max)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(scope, receive, send, limit)
                    return
        if not any(name == b"content-length" for name, _ in scope["headers"]):
            # a chunked body: read it (it is small, or refused) before the app sees it
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay([], message, receive), send)
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > limit:
                    await self._refuse(scope, receive, send, limit)
                    return
                chunks.append(body)
                more = message.get("more_body", False)
            await self.app(scope, _replay(chunks, None, receive), send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(413, f"The request body is larger than {limit} bytes.")
        await response(scope, receive, send)


def _replay(chunks: list[bytes], final: Message | None, receive_next: Receive) -> Receive:
    """A receive() that hands the app a body already read, then what the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    if final is not None:
        pending = [final]

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive_next()

    return receive


def _metrics_allowed(request: Request, token: str | None, need_token: bool) -> bool:
    if token is None:
        return not need_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def health_router(
    readiness: ReadinessCheck | None, *, metrics_token: str | None = None, metrics_need_token: bool = False
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz(request: Request) -> Response:
        """The process is alive and able to heal (no dependency checks)."""
        runtime = getattr(request.app.state, "runtime", None)
        alive = getattr(runtime, "alive", None)
        if alive is not None and not alive():
            return JSONResponse({"status": "stuck"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> Response:
        """Every dependency this process needs is reachable."""
        checks = await readiness() if readiness else {}
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (with METRICS_TOKEN set: for its bearer only)."""
        if not _metrics_allowed(request, metrics_token, metrics_need_token):
            return problem_response(404, "No such route.")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_service_app(
    *,
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
    readiness: ReadinessCheck | None = None,
    body_limit: int | None = DEFAULT_BODY_LIMIT,
    larger_bodies: dict[str, int] | None = None,
    metrics_need_token: bool = False,
    trust_traceparent: bool = True,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with problem errors, request ids, logs, metrics, health and a body limit.

    `readiness` is called by /readyz; when None, /readyz asks `app.state.runtime.ready()` if
    the lifespan put a `Runtime` there. `body_limit=None` leaves body limits to the app (the
    gateway: it checks the caller before it reads a byte of the body). With an OTLP endpoint set,
    each request is a span (shared.tracing), continuing the caller's `traceparent` unless
    `trust_traceparent=False` (the gateway: the internet does not choose our trace ids or sampling).
    """
    configure_logging(
        service=settings.service_name,
        level=settings.log_level,
        json=settings.log_json if settings.log_json is not None else settings.production,
    )
    app = FastAPI(title=title, lifespan=_freezing(lifespan), **fastapi_kwargs)
    app.state.settings = settings
    if settings.jwt_public_key:
        app.state.token_verifier = TokenVerifier(
            public_key_pem=settings.jwt_public_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        # what requests use: one signature check per token text (revocation stays per request)
        app.state.cached_verifier = CachingVerifier(app.state.token_verifier)
    install_problem_handlers(app)

    async def runtime_readiness() -> dict[str, bool]:
        runtime = getattr(app.state, "runtime", None)
        if runtime is None:
            return {"started": False}
        return await runtime.ready()  # type: ignore[no-any-return]

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app.include_router(
        health_router(readiness or runtime_readiness, metrics_token=token, metrics_need_token=metrics_need_token)
    )
    if body_limit is not None:
        app.add_middleware(BodyLimitMiddleware, max_bytes=body_limit, larger=larger_bodies)
    tracer = tracing.configure(settings)
    if tracer is not None:
        # inside the request context: its trace_id joins the request_id in the logs
        app.add_middleware(TracingMiddleware, tracer=tracer, trust_incoming=trust_traceparent)
    app.add_middleware(RequestContextMiddleware, access_log_sample=settings.access_log_sample)
    return app


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
