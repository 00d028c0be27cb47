"""Forwarding a request to a service over the gateway's pooled connections (gateway/upstream.py)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from shared.clientip import Network, client_address
from shared.logging import get_logger
from shared.problems import ProblemError
from shared.tracing import inject as inject_traceparent
from starlette.requests import Request
from starlette.responses import Response

from gateway.upstream import UpstreamBroke, UpstreamPool, UpstreamUnavailable

log = get_logger(__name__)

# request headers a service may need; everything else (Host, Connection, Cookie, ...) stays here
FORWARD_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "user-agent",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "idempotency-key",
)
# response headers passed back; hop-by-hop headers and the service's own framing are dropped
RETURN_RESPONSE_HEADERS = frozenset(
    {
        b"content-type",
        b"content-encoding",
        b"location",
        b"retry-after",
        b"www-authenticate",
        b"cache-control",
        b"etag",
        b"last-modified",
        b"content-language",
        b"content-disposition",
        b"vary",
        b"link",
        b"idempotent-replayed",
    }
)


def build_pools(upstreams: dict[str, str], *, pool_size: int, connect_timeout: float) -> dict[str, UpstreamPool]:
    """Each service's keep-alive connections (built in the lifespan)."""
    return {
        name: UpstreamPool(url, limit=pool_size, connect_timeout=connect_timeout) for name, url in upstreams.items()
    }


class Forwarder:
    """Sends a request to a service and turns its answer (or its absence) into a response."""

    def __init__(
        self,
        pools: dict[str, UpstreamPool],
        trusted_proxies: tuple[Network, ...] = (),
        *,
        timeout: float,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._pools = pools
        self._timeout = timeout
        self._tracer = tracer
        self._trusted = trusted_proxies
        self._origins = {name: _origin(pool.origin) for name, pool in pools.items()}

    async def forward(
        self, request: Request, upstream: str, *, request_id: str | None, body: bytes | None = None
    ) -> Response:
        if self._tracer is None:
            return await self._forward(request, upstream, request_id=request_id, body=body)
        with self._tracer.start_as_current_span(
            f"{request.method} {upstream}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": request.method, "server.address": upstream},
        ) as span:
            response = await self._forward(request, upstream, request_id=request_id, body=body)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def _forward(
        self, request: Request, upstream: str, *, request_id: str | None, body: bytes | None
    ) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1")
        query = request.scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        headers = {}
        for name in FORWARD_REQUEST_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value
        if request_id:
            headers["x-request-id"] = request_id
        if self._tracer is not None:
            inject_traceparent(headers)  # the CLIENT span: the service's span is its child
        # one address, the client's as far as our own proxies vouch for it (auth throttles by it);
        # whatever else the client wrote in X-Forwarded-For is not passed on
        peer = request.client.host if request.client is not None else None
        headers["x-forwarded-for"] = client_address(peer, request.headers.get("x-forwarded-for"), self._trusted)
        headers["x-forwarded-proto"] = request.url.scheme
        if body is None:
            body = await request.body()
        # HEAD goes on as GET (the same answer; the server here leaves the body out), so the
        # answer's length is never one without its body
        method = "GET" if request.method == "HEAD" else request.method
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._pools[upstream].request(method, target, list(headers.items()), body)
        except UpstreamUnavailable as exc:
            # never connected: the request did not reach the service, nothing happened
            log.warning("upstream_unavailable", upstream=upstream, error=str(exc))
            raise _unavailable(upstream) from exc
        except TimeoutError as exc:
            log.warning("upstream_timeout", upstream=upstream)
            raise ProblemError(504, f"The {upstream} service did not answer in time.") from exc
        except UpstreamBroke as exc:
            # the connection broke after the request left: the service may have acted on it
            # (a ticket created by a process killed before it answered), so not "unavailable"
            log.warning("upstream_broke", upstream=upstream, error=str(exc))
            raise ProblemError(
                502,
                f"The {upstream} service closed the connection before answering; the request "
                "may or may not have taken effect, check before repeating it.",
            ) from exc
        response = Response(content=answer.body, status_code=answer.status)
        returned = response.raw_headers
        typed = False
        for key, raw in answer.headers:
            if key in RETURN_RESPONSE_HEADERS:
                if key == b"location":
                    raw = self._relative_location(upstream, raw.decode("latin-1")).encode("latin-1")
                typed = typed or key == b"content-type"
                returned.append((key, raw))
        if not typed and answer.body:
            returned.append((b"content-type", b"application/octet-stream"))
        return response

    def _relative_location(self, upstream: str, location: str) -> str:
        """A Location pointing at the service itself must not reveal where it runs."""
        parts = urlsplit(location)
        if parts.scheme and _origin(location) == self._origins[upstream]:
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return location


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port)


def _unavailable(upstream: str) -> ProblemError:
    return ProblemError(
        503,
        f"The {upstream} service is unavailable; try again shortly.",
        headers={"Retry-After": "5"},
    )
