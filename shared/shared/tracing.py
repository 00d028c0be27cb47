"""OpenTelemetry traces: gateway -> service -> outbox -> broker -> consumer, one trace per request.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then no SDK object exists, no middleware is
installed and every helper here returns at its first line (`_TRACERS` is empty). On, each
service name gets a `TracerProvider` whose spans go by OTLP/HTTP (protobuf) to
`<endpoint>/v1/traces` in batches, sampled parent-based at `OTEL_TRACES_SAMPLER_ARG` (1.0).

The W3C `traceparent` travels in HTTP headers (the gateway's forwarded request), in the event
envelope (written into the outbox row in the request's transaction, so a trace survives the
relay, a restart or a replayed dead letter) and in the message headers (set by the publish span).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import bind_contextvars

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from shared.events import Envelope
    from shared.settings import ServiceSettings

# service name -> its provider and tracer; empty while tracing is off (the fast path)
_PROVIDERS: dict[str, TracerProvider] = {}
_TRACERS: dict[str, trace.Tracer] = {}
_PROPAGATOR = TraceContextTextMapPropagator()
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL of a collector base URL (the spec's `<base>/v1/traces`)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def configure(settings: ServiceSettings) -> trace.Tracer | None:
    """The tracer of `settings.service_name`, built once; None when no endpoint is configured."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    name = settings.service_name
    if name in _TRACERS:
        return _TRACERS[name]
    # imported here: a process without an endpoint never loads the SDK or the exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": name, "deployment.environment": settings.environment}),
        sampler=ParentBased(TraceIdRatioBased(settings.otel_traces_sampler_arg)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(endpoint), timeout=5)))
    _PROVIDERS[name] = provider
    _TRACERS[name] = provider.get_tracer("helpdesk")
    return _TRACERS[name]


def enabled() -> bool:
    """Whether any tracer was configured in this process."""
    return bool(_TRACERS)


def tracer(service: str) -> trace.Tracer | None:
    """The tracer `configure` built for `service`, or None (tracing off)."""
    if not _TRACERS:
        return None
    return _TRACERS.get(service)


def flush(timeout_s: float = 5.0) -> None:
    """Export every span ended so far (tests; a process ending)."""
    for provider in _PROVIDERS.values():
        provider.force_flush(int(timeout_s * 1000))


def shutdown() -> None:
    """Export what is left and turn tracing off again (a test that turned it on)."""
    for provider in _PROVIDERS.values():
        provider.shutdown()
    _PROVIDERS.clear()
    _TRACERS.clear()


_BOUND: contextvars.ContextVar[str | None] = contextvars.ContextVar("bound_traceparent", default=None)


def bind_traceparent(value: str | None) -> None:
    """The parent for events written where no span runs: a batch handling one message's item
    names that message's `traceparent`, so the events it writes stay in the message's trace."""
    _BOUND.set(value)


def current_traceparent() -> str | None:
    """The `traceparent` of the span running now (else the bound one) to store with an outbox row."""
    if not _TRACERS:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent") or _BOUND.get()


def extract(carrier: Mapping[str, Any] | None) -> Context | None:
    """The remote parent named by a `traceparent` in `carrier` (None: a new trace)."""
    value = carrier.get("traceparent") if carrier else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return _PROPAGATOR.extract({"traceparent": value})


def inject(headers: dict[str, Any]) -> dict[str, Any]:
    """Add the current span's `traceparent` to `headers` (returned for chaining)."""
    _PROPAGATOR.inject(headers)
    return headers


def _ticket_id(envelope: Envelope) -> str | None:
    data = envelope.data
    ticket = data.get("ticket")
    if isinstance(ticket, dict) and "id" in ticket:
        return str(ticket["id"])
    if "ticket_id" in data:
        return str(data["ticket_id"])
    return None


def message_attributes(envelope: Envelope, destination: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": destination,
        "messaging.message.id": str(envelope.id),
        "helpdesk.event_type": envelope.type,
    }
    ticket_id = _ticket_id(envelope)
    if ticket_id:
        attributes["helpdesk.ticket_id"] = ticket_id
    return attributes


@contextlib.contextmanager
def consumer_span(
    service: str, queue: str, envelope: Envelope, headers: Mapping[str, Any] | None
) -> Iterator[trace.Span | None]:
    """A CONSUMER span per message, child of the publish span (message headers) or, failing
    that, of the span that wrote the event (the envelope); nothing when tracing is off."""
    tracer_ = tracer(service)
    if tracer_ is None:
        yield None
        return
    parent = extract(headers) or extract({"traceparent": envelope.traceparent} if envelope.traceparent else None)
    with tracer_.start_as_current_span(
        f"{queue} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={**message_attributes(envelope, queue), "messaging.operation.type": "process"},
    ) as span:
        bind_contextvars(trace_id=format(span.get_span_context().trace_id, "032x"))
        yield span


def mark_failed(span: trace.Span | None, exc: BaseException) -> None:
    if span is not None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class TracingMiddleware:
    """A SERVER span per HTTP request (pure ASGI); `trust_incoming=False` starts a new trace
    whatever `traceparent` the client sent (the gateway faces the internet)."""

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer, trust_incoming: bool = True) -> None:
        self.app = app
        self.tracer = tracer
        self.trust_incoming = trust_incoming

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        parent = None
        if self.trust_incoming:
            for name, value in scope["headers"]:
                if name == b"traceparent":
                    parent = extract({"traceparent": value.decode("latin-1")})
                    break
        method = scope.get("method", "")
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:
            bind_contextvars(trace_id=format(span.get_span_context().trace_id, "032x"))
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
