"""What tracing costs: POST /api/tickets on one tickets service with tracing off vs on.

    uv run python bench/tracing_overhead.py [--concurrency 16] [--seconds 5] [--rounds 3]

Two tickets service processes (uvicorn, one worker each) on one fresh database and vhost (both
removed at the end): one without OTEL_EXPORTER_OTLP_ENDPOINT, one exporting to a local OTLP/HTTP
receiver in this process (it decodes and counts the spans, as a collector would take them). The
legs alternate for `--rounds` rounds so both see the same machine; the figures are the medians.

First, in-process and without a database (`--in-process-only` stops there): the microseconds one
request costs through `create_service_app` (request id, logs, metrics) with tracing off, on and
exporting every request to the local receiver, and on at a 10 % sample ratio. A machine busy with
other work moves the service legs a lot; the in-process figures much less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tickets_bench import ADMIN_DSN, INI, RABBIT, ROOT, drive, free_port, pct, rabbitmqctl, start, stop, wait_ready  # noqa: E402


def receiver() -> tuple[ThreadingHTTPServer, list[int]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            request = ExportTraceServiceRequest.FromString(body)
            spans[0] += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, spans


async def in_process(endpoint: str, requests: int = 3000, rounds: int = 5) -> None:
    """Per-request cost of the HTTP layer of a service app, tracing off / on / on at 10 %."""
    import logging

    from shared.settings import ServiceSettings
    from shared.web import create_service_app

    from shared import tracing

    logging.disable(logging.INFO)

    def make(name: str, **values: Any) -> Any:
        app = create_service_app(
            title=name, settings=ServiceSettings(service_name=name, environment="test", log_level="WARNING", **values)
        )

        @app.post("/x")
        async def x() -> dict[str, str]:
            # what add_event asks when it writes an outbox row
            return {"traceparent": tracing.current_traceparent() or ""}

        return app

    apps = {
        "off": make("bench-off"),
        "on, every request": make("bench-on", otel_exporter_otlp_endpoint=endpoint),
        "on, 10 % sampled": make("bench-10", otel_exporter_otlp_endpoint=endpoint, otel_traces_sampler_arg=0.1),
    }
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"",
        "headers": [(b"content-length", b"2")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    async def run(app: Any, n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - started) / n * 1e6

    costs: dict[str, list[float]] = {name: [] for name in apps}
    for app in apps.values():
        await run(app, 500)
    for _ in range(rounds):
        for name, app in apps.items():
            costs[name].append(await run(app, requests))
            tracing.flush()  # the exporter's encoding counts for the leg that made the spans
    print(f"in-process, {rounds} x {requests} requests per variant (median microseconds per request):")
    print("| tracing | us/request |")
    print("|---|---:|")
    for name, values in costs.items():
        print(f"| {name} | {statistics.median(values):.0f} |")
    tracing.shutdown()
    logging.disable(logging.NOTSET)


async def bench(args: argparse.Namespace) -> None:
    import aiohttp
    from shared.jwt import TokenIssuer, generate_keypair
    from shared.migrations import upgrade

    from shared import dbsetup

    database = f"hd_bench_{uuid.uuid4().hex[:8]}"
    vhost = f"hd_bench_{uuid.uuid4().hex[:8]}"
    logs = ROOT / "var" / "bench" / f"tracing-{uuid.uuid4().hex[:6]}"
    logs.mkdir(parents=True, exist_ok=True)
    server, spans = receiver()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    await in_process(endpoint)
    spans[0] = 0  # count the service's spans alone below
    if args.in_process_only:
        server.shutdown()
        return
    procs: list[subprocess.Popen[bytes]] = []
    await dbsetup.setup(admin_dsn=ADMIN_DSN, database=database)
    await asyncio.to_thread(rabbitmqctl, "add_vhost", vhost)
    await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        db_url = dbsetup.service_database_url("tickets", database=database)
        await upgrade(INI, db_url)
        private_pem, public_pem = generate_keypair()
        issuer = TokenIssuer(
            private_key_pem=private_pem, issuer="helpdesk-auth", audience="helpdesk", ttl=timedelta(hours=2)
        )
        common = {
            "ENVIRONMENT": "dev",
            "JWT_PUBLIC_KEY": public_pem,
            "RABBITMQ_URL": f"amqp://guest:guest@{RABBIT[0]}:{RABBIT[1]}/{vhost}",
            "LOG_LEVEL": "WARNING",
            "TICKETS_DATABASE_URL": db_url,
            "DB_POOL_SIZE": str(args.concurrency),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        }
        off_port, on_port = free_port(), free_port()
        procs.append(start("tickets-off", "tickets.app:create_app", off_port, common, logs))
        procs.append(
            start(
                "tickets-on",
                "tickets.app:create_app",
                on_port,
                {**common, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
                logs,
            )
        )
        for port in (off_port, on_port):
            await wait_ready(f"http://127.0.0.1:{port}/readyz")
        users = [uuid.uuid4() for _ in range(2000)]
        tokens = [issuer.issue(user_id=u, role="user", email=f"{u.hex[:8]}@bench.test", name="Bench") for u in users]
        body = {
            "title": "Cannot log in to the VPN",
            "description": "Since this morning the client says the token expired.",
        }
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency * 2)) as http:

            def poster(port: int, offset: int) -> Any:
                async def post(i: int) -> int:
                    headers = {"Authorization": f"Bearer {tokens[(i + offset) % len(tokens)]}"}
                    async with http.post(f"http://127.0.0.1:{port}/api/tickets", json=body, headers=headers) as r:
                        await r.read()
                        return r.status

                return post

            off, on = poster(off_port, 0), poster(on_port, 1000)
            await drive(8, 1.0, off, 201)
            await drive(8, 1.0, on, 201)
            rates: dict[str, list[float]] = {"off": [], "on": []}
            p50s: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for name, post in (("off", off), ("on", on)):
                    rate, latencies, errors = await drive(args.concurrency, args.seconds, post, 201)
                    rates[name].append(rate)
                    p50s[name].append(pct(latencies, 0.5))
                    print(f"  {name:3}  {rate:7.1f} req/s  p50 {pct(latencies, 0.5):6.1f} ms  errors {errors}")
        await asyncio.sleep(6)  # the batch exporter sends every 5 s
        off_rate, on_rate = statistics.median(rates["off"]), statistics.median(rates["on"])
        print(
            f"\nPOST /api/tickets, one tickets process, concurrency {args.concurrency}, "
            f"{args.rounds} x {args.seconds:g} s per leg (medians):"
        )
        print("| tracing | requests/s | p50 ms |")
        print("|---|---:|---:|")
        print(f"| off | {off_rate:.0f} | {statistics.median(p50s['off']):.1f} |")
        print(f"| on (OTLP/HTTP, every request sampled) | {on_rate:.0f} | {statistics.median(p50s['on']):.1f} |")
        print(f"overhead: {100 * (1 - on_rate / off_rate):.1f} % of throughput; spans received: {spans[0]}")
    finally:
        for proc in procs:
            stop(proc)
        server.shutdown()
        await dbsetup.drop_database(admin_dsn=ADMIN_DSN, database=database)
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", vhost, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process-only", action="store_true")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
