"""The hop to a service: pooled keep-alive HTTP/1.1 connections, whole requests and answers.

Not aiohttp (which the gateway keeps for its own calls: health, OpenAPI, revocations): under
load its request path cost about 280 µs of the gateway's ~800 µs of CPU per forwarded ticket
(py-spy, `bench/tickets_bench.py --profile`), while the hop needs little of what it offers: one
plain-HTTP origin per service on a private network, a body the gateway has already read in full,
an answer read in full. Here a request is one `write` of bytes built in one go, the answer is
parsed by httptools (uvicorn's own parser, already installed) straight from the protocol's
`data_received`, and idle connections wait per origin for the next request.

What a caller can tell apart, because it answers each differently (gateway/proxy.py):
`UpstreamUnavailable` — no connection could be made, so nothing was sent; `UpstreamBroke` — the
connection broke or the answer was unreadable after the request left (the service may have
acted on it); `TimeoutError` — no whole answer within the request's time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

# below uvicorn's 5 s keep-alive, so a connection the service is about to close is not reused
KEEPALIVE_S = 3.5


class UpstreamUnavailable(Exception):
    """No connection to the service: the request was not sent."""


class UpstreamBroke(Exception):
    """The connection broke, or the answer was not HTTP, after the request was sent."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]  # names in lower case, in the order received
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection to a service; one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._framed = False  # the answer says where it ends (Content-Length or chunked)
        self._keep_alive = True

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: a service does not talk unprompted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroke(f"unreadable answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and not self._framed:  # an answer that ends when the connection does
            self._keep_alive = False
            self._finish()
        else:
            self._fail(UpstreamBroke("the service closed the connection before answering"))

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding"):
            self._framed = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (we never ask for one): the real one follows
            self._headers.clear()
            return
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._headers_done:  # the end of an interim answer
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._finish()

    # --- one exchange
    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self.closed

    async def exchange(self, request: bytes) -> Answer:
        transport = self.transport
        if transport is None or self.closed:
            raise UpstreamBroke("the connection closed before the request was sent")
        self._waiter = asyncio.get_running_loop().create_future()
        self._headers = []
        self._body = []
        self._headers_done = self._framed = False
        transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result(Answer(status, self._headers, b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Keep-alive connections to one service (`http://host:port`), at most `limit` at once."""

    def __init__(self, url: str, *, limit: int, connect_timeout: float, keepalive: float = KEEPALIVE_S) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an upstream is a plain http://host:port URL, not {url!r}")
        self.origin = url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._host_header = f"Host: {parts.netloc}\r\n"
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []

    async def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """Send one request and read its whole answer (see the module's docstring for errors)."""
        lines = [f"{method} {target} HTTP/1.1\r\n", self._host_header]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1") + body
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                answer = await connection.exchange(request)
            except BaseException:  # broken, timed out or cancelled: its state is unknown
                connection.close()
                raise
            if connection.reusable:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    def _idle_connection(self) -> _Connection | None:
        idle = self._idle
        fresh_after = time.monotonic() - self._keepalive
        while idle:
            connection = idle.pop()  # the most recently used first
            if not connection.closed and connection.idle_since > fresh_after:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(_Connection, self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"no connection to {self._host}:{self._port}: {exc!r}") from exc
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
