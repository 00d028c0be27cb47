"""One trace from the gateway through tickets, its outbox and the broker to triage's consumer.

Real gateway, tickets and triage apps in this process (tickets on a real port, since the gateway
forwards over HTTP), a fresh database through the real migrations, a fresh vhost, and a local
OTLP/HTTP receiver that decodes what the exporters send with opentelemetry-proto.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, TestDatabase, app_client, bearer, wait_for
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from shared.migrations import upgrade
from shared.tracing import flush, shutdown
from tickets.app import create_app as create_tickets
from tickets.settings import TicketsSettings
from triage.app import create_app as create_triage
from triage.settings import TriageSettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


@dataclass
class OtlpReceiver:
    """POST /v1/traces (OTLP/HTTP, protobuf), as a collector would take it."""

    port: int = 0
    spans: list[ReceivedSpan] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                        )
                    )


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    received = OtlpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            received.paths.append(self.path)
            received.take(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        shutdown()  # no other test of this process traces
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app on a real port (lifespan on), for the gateway to forward to."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: asyncio.sleep(0, server.started), timeout=20, message="tickets to listen")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_one_trace_links_gateway_tickets_and_triage(
    make_database: Callable[[], Any],
    make_vhost: Callable[[], str],
    jwt_keys: JwtKeys,
    receiver: OtlpReceiver,
    tmp_path: Path,
) -> None:
    making_vhost = asyncio.create_task(asyncio.to_thread(make_vhost))  # rabbitmqctl, meanwhile
    db: TestDatabase = await make_database()
    await upgrade(ROOT / "services/tickets/alembic.ini", db.url("tickets"))
    await upgrade(ROOT / "services/triage/alembic.ini", db.url("triage"))
    vhost = await making_vhost
    common: dict[str, Any] = {
        "environment": "test",
        "rabbitmq_url": vhost,
        "jwt_public_key": jwt_keys.public_pem,
        "log_level": "WARNING",
        "otel_exporter_otlp_endpoint": receiver.endpoint,
    }
    tickets = create_tickets(TicketsSettings(database_url=db.url("tickets"), **common))
    triage = create_triage(
        TriageSettings(
            database_url=db.url("triage"), provider="local", gemini_api_key=None, retrain_interval_s=0, **common
        )
    )
    nowhere = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "index.html").write_text("<!doctype html>")
    async with serving(tickets) as tickets_url, app_client(triage):
        gateway = create_gateway(
            GatewaySettings(
                tickets_url=tickets_url,
                auth_url=nowhere,
                triage_url=nowhere,
                notifier_url=nowhere,
                web_dir=str(tmp_path),
                **common,
            )
        )
        async with app_client(gateway) as client:
            # a client's own trace context is not continued by the gateway (the internet does
            # not choose our trace ids or sampling)
            foreign = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            r = await client.post(
                "/api/tickets",
                json={"title": "VPN drops every hour", "description": "The VPN disconnects hourly since Monday."},
                headers={**bearer(jwt_keys.token(role="user")), "traceparent": foreign},
            )
            assert r.status_code == 201, r.text
            ticket_id = r.json()["id"]

            async def triage_span() -> ReceivedSpan | None:
                flush()
                for span in receiver.spans:
                    if (
                        span.service == "triage"
                        and span.kind == SpanProto.SPAN_KIND_CONSUMER
                        and span.attributes.get("helpdesk.ticket_id") == ticket_id
                        and span.attributes.get("helpdesk.event_type") == "ticket.created"
                    ):
                        return span
                return None

            consumed = await wait_for(triage_span, timeout=20, interval=0.2, message="triage's consumer span")

            async def triage_published() -> bool:
                flush()
                return any(
                    s.trace_id == consumed.trace_id and s.service == "triage" and s.kind == SpanProto.SPAN_KIND_PRODUCER
                    for s in receiver.spans
                )

            # what triage published while handling it (ticket.triaged or .triage_failed) stays in the trace
            await wait_for(triage_published, timeout=10, interval=0.2, message="triage's publish span")

    assert set(receiver.paths) == {"/v1/traces"}
    trace = {s.span_id: s for s in receiver.spans if s.trace_id == consumed.trace_id}
    assert consumed.trace_id != foreign.split("-")[1]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        assert span.parent_span_id in trace, f"{span.name} ({span.service}) has no parent in the trace"
        return trace[span.parent_span_id]

    # triage consumer <- tickets publish (relay) <- tickets request <- gateway proxy call <- gateway request
    published = parent(consumed)
    assert (published.service, published.kind, published.name) == (
        "tickets",
        SpanProto.SPAN_KIND_PRODUCER,
        "ticket.created publish",
    )
    assert published.attributes["helpdesk.ticket_id"] == ticket_id
    handled = parent(published)
    assert (handled.service, handled.kind, handled.name) == ("tickets", SpanProto.SPAN_KIND_SERVER, "POST /api/tickets")
    assert handled.attributes["http.response.status_code"] == 201
    forwarded = parent(handled)
    assert (forwarded.service, forwarded.kind) == ("gateway", SpanProto.SPAN_KIND_CLIENT)
    request = parent(forwarded)
    assert (request.service, request.kind) == ("gateway", SpanProto.SPAN_KIND_SERVER)
    assert request.name.startswith("POST /api/")
    assert request.parent_span_id == ""  # a root: the client's traceparent was not taken
