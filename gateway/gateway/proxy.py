"""Forwarding a request to a service over a pooled aiohttp client.

aiohttp rather than httpx, by measurement (bench/gateway_bench.py --hop; 32 concurrent GETs on
one uvicorn stub, 2 cores): aiohttp 3.14 ~4,700-6,300 req/s, httpx 0.28 ~600-840 req/s with
`sniffio` installed and ~490 without it (the gateway's image has none: httpcore then retries a
failing `import sniffio` on every request).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from shared.clientip import Network, client_address
from shared.logging import get_logger
from shared.problems import ProblemError
from shared.tracing import inject as inject_traceparent
from starlette.requests import Request
from starlette.responses import Response
from yarl import URL

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
        "content-type",
        "location",
        "retry-after",
        "www-authenticate",
        "cache-control",
        "etag",
        "last-modified",
        "content-language",
        "content-disposition",
        "vary",
        "link",
        "idempotent-replayed",
    }
)


def build_session(*, pool_size: int, connect_timeout: float, total_timeout: float) -> aiohttp.ClientSession:
    """One pooled client for every service (built in the lifespan)."""
    connector = aiohttp.TCPConnector(
        limit=pool_size,
        # below uvicorn's 5 s keep-alive, so we never reuse a connection the service is closing
        keepalive_timeout=3.5,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class Forwarder:
    """Sends a request to a service and turns its answer (or its absence) into a response."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        upstreams: dict[str, str],
        trusted_proxies: tuple[Network, ...] = (),
        *,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._session = session
        self._tracer = tracer
        self._trusted = trusted_proxies
        self._upstreams = upstreams
        self._origins = {name: _origin(url) for name, url in upstreams.items()}

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
        base = self._upstreams[upstream]
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = base + raw_path.decode("latin-1")
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
        try:
            async with self._session.request(
                request.method,
                URL(target, encoded=True),
                headers=headers,
                data=body if body or request.method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False,
            ) as upstream_response:
                content = await upstream_response.read()
                status = upstream_response.status
                returned = [
                    (name, value)
                    for name, value in upstream_response.headers.items()
                    if name.lower() in RETURN_RESPONSE_HEADERS
                ]
                encoding = upstream_response.headers.get("content-encoding")
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise _unavailable(upstream) from exc
            log.warning("upstream_timeout", upstream=upstream)
            raise ProblemError(504, f"The {upstream} service did not answer in time.") from exc
        except aiohttp.ClientConnectorError as exc:
            # never connected: the request did not reach the service, nothing happened
            log.warning("upstream_unavailable", upstream=upstream, error=type(exc).__name__)
            raise _unavailable(upstream) from exc
        except aiohttp.ClientError as exc:
            # the connection broke after the request left: the service may have acted on it
            # (a ticket created by a process killed before it answered), so not "unavailable"
            log.warning("upstream_broke", upstream=upstream, error=type(exc).__name__)
            raise ProblemError(
                502,
                f"The {upstream} service closed the connection before answering; the request "
                "may or may not have taken effect, check before repeating it.",
            ) from exc
        response = Response(content=content, status_code=status)
        for name, value in returned:
            if name.lower() == "location":
                value = self._relative_location(upstream, value)
            response.headers.append(name, value)
        if encoding:
            response.headers["content-encoding"] = encoding
        if "content-type" not in response.headers and content:
            response.headers["content-type"] = "application/octet-stream"
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
