"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_CONSUMED = Counter("bus_events_consumed_total", "Events handled by consumers", ["queue", "type", "outcome"])
EVENTS_PUBLISHED = Counter("bus_events_published_total", "Events confirmed by the broker", ["type"])
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published", ["schema"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Unsent outbox rows seen by the relay", ["schema"])
DEPENDENCY_PAUSED = Gauge(
    "consumers_paused", "1 while consumers wait for a dependency (database, broker) to answer", ["dependency"]
)
DEAD_LETTERS = Gauge("dead_letters_open", "Dead letters recorded and neither replayed nor discarded", ["service"])
