"""The API gateway: verifies tokens, enforces route roles, forwards to the services, serves the web app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
from fastapi import FastAPI
from shared.bus import Bus
from shared.clientip import parse_networks
from shared.events import UserUpdated
from shared.tracing import tracer as service_tracer
from shared.web import create_service_app

from gateway import api, compat
from gateway.cors import ApiCorsMiddleware
from gateway.openapi import OpenApiCache
from gateway.proxy import Forwarder, build_pools
from gateway.revocations import RevocationList, RevocationSync
from gateway.security import SecurityHeadersMiddleware
from gateway.settings import GatewaySettings
from gateway.upstream import KEEPALIVE_S
from gateway.web import WebApp

READY_CACHE_S = 2.0


class UpstreamReadiness:
    """/readyz: the required services' /healthz answer; cached briefly so probes stay cheap."""

    def __init__(self, session: aiohttp.ClientSession, upstreams: dict[str, str], required: list[str]) -> None:
        self._session = session
        self._targets = {name: upstreams[name] for name in required}
        self._checked_at = -1e9
        self._result: dict[str, bool] = {}
        self._lock = asyncio.Lock()

    async def __call__(self) -> dict[str, bool]:
        async with self._lock:
            if time.monotonic() - self._checked_at >= READY_CACHE_S:
                names = list(self._targets)
                results = await asyncio.gather(*(self._check(self._targets[n]) for n in names))
                self._result = dict(zip(names, results, strict=True))
                self._checked_at = time.monotonic()
            return dict(self._result)

    async def _check(self, base: str) -> bool:
        try:
            async with self._session.get(
                f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=1.5, connect=1)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


def build_session(*, pool_size: int, connect_timeout: float, total_timeout: float) -> aiohttp.ClientSession:
    """The client of the gateway's own calls (health, OpenAPI documents, revocations, the
    compatibility mount); forwarded requests take gateway/upstream.py's connections."""
    connector = aiohttp.TCPConnector(
        limit=pool_size,
        keepalive_timeout=KEEPALIVE_S,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app (uvicorn gateway.app:create_app --factory)."""
    settings = settings or GatewaySettings()
    upstreams = settings.upstream_urls()
    token_ttl = timedelta(seconds=settings.token_ttl_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session = build_session(
            pool_size=settings.pool_size,
            connect_timeout=settings.connect_timeout,
            total_timeout=settings.upstream_timeout,
        )
        revocations = RevocationList(token_ttl=token_ttl)
        bus = Bus(settings.rabbitmq_url, service="gateway", prefetch=settings.bus_prefetch)
        bus.subscribe([UserUpdated.event_type], revocations.on_event)
        sync = RevocationSync(
            revocations=revocations,
            session=session,
            auth_url=upstreams["auth"],
            token_ttl=token_ttl,
            refresh_s=settings.revocation_refresh_s,
            bus=bus,
        )
        app.state.revocations = revocations
        app.state.revocation_sync = sync
        app.state.bus = bus
        pools = build_pools(upstreams, pool_size=settings.pool_size, connect_timeout=settings.connect_timeout)
        app.state.forwarder = Forwarder(
            pools,
            parse_networks(settings.trusted_proxies),
            timeout=settings.upstream_timeout,
            tracer=service_tracer(settings.service_name),
        )
        app.state.http = session
        app.state.upstreams = upstreams
        app.state.openapi = OpenApiCache(session=session, upstreams=upstreams, retry_s=settings.openapi_retry_s)
        readiness.target = UpstreamReadiness(session, upstreams, settings.required_upstreams())
        await bus.start()
        sync.start()
        try:
            yield
        finally:
            await sync.stop()
            await bus.close()
            await session.close()
            for pool in pools.values():
                pool.close()

    readiness = _LateReadiness()
    app = create_service_app(
        title="gateway",
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
        # no body is read before the caller is known: forward_api applies the limits itself
        body_limit=None,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        metrics_need_token=True,
        trust_traceparent=False,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.body_limits = api.BodyLimits(default=settings.body_limit, admin_import=settings.import_body_limit)
    app.state.web = WebApp(settings.web_dir)
    app.state.compat_list_max = settings.compat_list_max
    app.router.routes.extend(compat.routes())
    app.router.routes.extend(api.routes())
    origins = settings.cors_origins()
    if origins:
        app.add_middleware(ApiCorsMiddleware, origins=origins)
    return app


class _LateReadiness:
    """The readiness check exists once the lifespan made the HTTP client."""

    target: UpstreamReadiness | None = None

    async def __call__(self) -> dict[str, bool]:
        if self.target is None:
            return {"started": False}
        return await self.target()
