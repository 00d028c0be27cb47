"""The hop's own client (gateway/upstream.py) against a raw socket server that answers as told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from gateway.upstream import UpstreamBroke, UpstreamPool, UpstreamUnavailable

from .conftest import free_port

Answering = Callable[[bytes, int], bytes | None]  # (request head, n-th request) -> raw answer; None: close


class Server:
    """Answers each request head as `answer` says; counts connections and keeps what it read."""

    def __init__(self, answer: Answering) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                raw = self.answer(head, len(self.requests))
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(answer: Answering) -> AsyncIterator[tuple[Server, UpstreamPool]]:
    server = Server(answer)
    port = free_port()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", port)
    pool = UpstreamPool(f"http://127.0.0.1:{port}", limit=4, connect_timeout=1.0)
    try:
        yield server, pool
    finally:
        pool.close()
        listening.close()
        for writer in server.writers:
            writer.close()


def fixed(body: bytes, extra: bytes = b"") -> Answering:
    return lambda head, n: b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_connections_carry_one_request_after_another() -> None:
    async with serving(fixed(b'{"ok":true}', b"content-type: application/json\r\n")) as (server, pool):
        for _ in range(3):
            answer = await pool.request("POST", "/api/tickets?x=1", [("authorization", "Bearer t")], b'{"a":1}')
            assert answer.status == 200
            assert answer.body == b'{"ok":true}'
            assert (b"content-type", b"application/json") in answer.headers
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/tickets?x=1 HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer t\r\n" in first
    assert first.endswith(b'Content-Length: 7\r\n\r\n{"a":1}')


async def test_chunked_and_unframed_answers_are_read_whole() -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with serving(lambda head, n: chunked) as (server, pool):
        assert (await pool.request("GET", "/a", [], b"")).body == b"hello world"
        assert (await pool.request("GET", "/a", [], b"")).body == b"hello world"
    assert server.connections == 1

    # no length: the answer ends with the connection, which is then not used again
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nto the end")
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(until_close, "127.0.0.1", 0)
    unframed = UpstreamPool(f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}", limit=1, connect_timeout=1)
    try:
        assert (await unframed.request("GET", "/b", [], b"")).body == b"to the end"
        assert (await unframed.request("GET", "/b", [], b"")).body == b"to the end"
    finally:
        unframed.close()
        listening.close()


async def test_a_connection_the_service_closed_while_idle_is_not_used_again() -> None:
    async with serving(fixed(b"ok")) as (server, pool):
        assert (await pool.request("GET", "/", [], b"")).body == b"ok"
        for writer in server.writers:  # the service restarts, say
            writer.close()
        await asyncio.sleep(0.05)
        assert (await pool.request("GET", "/", [], b"")).body == b"ok"
    assert server.connections == 2


async def test_an_idle_connection_older_than_the_keep_alive_is_not_used_again() -> None:
    async with serving(fixed(b"ok")) as (server, pool):
        pool = UpstreamPool(pool.origin, limit=1, connect_timeout=1.0, keepalive=0.05)
        await pool.request("GET", "/", [], b"")
        await pool.request("GET", "/", [], b"")
        assert server.connections == 1
        await asyncio.sleep(0.1)
        await pool.request("GET", "/", [], b"")
        assert server.connections == 2
        pool.close()


async def test_failures_are_told_apart() -> None:
    # nobody listens: nothing was sent
    with pytest.raises(UpstreamUnavailable):
        await UpstreamPool(f"http://127.0.0.1:{free_port()}", limit=1, connect_timeout=1.0).request("GET", "/", [], b"")

    # the request arrived, the connection closed without an answer: it may have been acted on
    async with serving(lambda head, n: None) as (server, pool):
        with pytest.raises(UpstreamBroke):
            await pool.request("POST", "/api/tickets", [], b"{}")
        assert len(server.requests) == 1

    # not HTTP
    async with serving(lambda head, n: b"SSH-2.0-OpenSSH\r\n\r\n") as (_, pool):
        with pytest.raises(UpstreamBroke):
            await pool.request("GET", "/", [], b"")

    # no answer in time: the caller's timeout, and the connection is not reused
    async with serving(lambda head, n: b"" if n == 1 else b"HTTP/1.1 204 No Content\r\n\r\n") as (server, pool):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.request("GET", "/slow", [], b"")
        assert (await pool.request("GET", "/", [], b"")).status == 204
    assert server.connections == 2


def test_only_plain_http_origins() -> None:
    with pytest.raises(ValueError, match="plain http"):
        UpstreamPool("https://tickets:8443", limit=1, connect_timeout=1.0)
