"""Triage throughput, latency and memory, measured on this machine against real services.

    uv run python bench/triage_bench.py [--tickets 400] [--paced 100] [--rate 20] [--workers 1 2]
        [--incidents on|off] [--profile DIR]

For each worker count it makes a fresh database and vhost, migrates, starts that many triage
worker processes (the real app, local analyzer, no key), registers a staff directory, then:
- burst: publishes `--tickets` ticket.created events at once and measures tickets triaged per
  second (first publish to last ticket.triaged);
- paced: publishes `--paced` tickets at `--rate`/s and reports p50/p95 from ticket.created
  (its publish) to ticket.triaged (its arrival);
- memory: the peak RSS (VmHWM) of each worker process with its model loaded.
Only local servers are used (127.0.0.1). Ticket texts come from ../shared/data when present.
`--incidents off` runs the workers with TRIAGE_INCIDENTS=false (default: on, as deployed);
`--profile DIR` samples each worker with py-spy during the burst and prints its hottest functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from procstat import cpu_seconds
from shared.bus import Bus
from shared.events import Envelope, TicketCreated, TicketSnapshot, UserRef, UserRegistered
from shared.migrations import upgrade

from shared import dbsetup

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "support-tickets-dev.csv"
INI = ROOT / "services" / "triage" / "alembic.ini"
QUEUES = [
    "Technical Support",
    "Product Support",
    "Customer Service",
    "IT Support",
    "Billing and Payments",
    "Returns and Exchanges",
    "Service Outages and Maintenance",
    "Sales and Pre-Sales",
    "Human Resources",
    "General Inquiry",
]


def ticket_texts(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    if DATA.exists():
        with DATA.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                title = (row.get("subject") or "").strip() or (row.get("body") or "")[:60]
                body = (row.get("body") or "").strip()
                if len(title) >= 3 and body:
                    rows.append((title[:200], body[:10000]))
    if not rows:
        words = (
            "vpn login invoice refund printer outage database password email "
            "server slow error crash billing account upgrade"
        ).split()
        rows = [
            (" ".join(rng.choices(words, k=4)).capitalize(), " ".join(rng.choices(words, k=40))) for _ in range(200)
        ]
    return [rng.choice(rows) for _ in range(n)]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    workers: int
    burst_tickets: int
    burst_seconds: float
    per_second: float
    paced_tickets: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    peak_rss_mb: list[float]
    # the burst's tickets per CPU-second of the workers: what one worker with a core to itself
    # would do, whatever else the (shared) machine runs meanwhile
    per_cpu_second: float = 0.0
    load: float = 0.0


class Collector:
    """Receives ticket.triaged / triage_failed from the `tickets` queue and stamps arrival."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.event = asyncio.Event()
        self.expect = 0

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type not in ("ticket.triaged", "ticket.triage_failed"):
            return  # the `tickets` queue also carries user events
        tid = str(envelope.data.get("ticket_id"))
        self.arrived.setdefault(tid, time.perf_counter())
        if len(self.arrived) >= self.expect:
            self.event.set()


def created_event(title: str, body: str) -> TicketCreated:
    now = datetime.now(UTC)
    return TicketCreated(
        ticket=TicketSnapshot(
            id=uuid.uuid4(),
            title=title,
            description=body,
            status="open",
            created_by=UserRef(id=uuid.uuid4(), name="Bench", email="bench@example.test"),
            created_at=now,
            updated_at=now,
        )
    )


async def wait_ready(ports: list[int], procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        for port in ports:
            while True:
                for p in procs:
                    if p.poll() is not None:
                        raise RuntimeError(f"worker exited with {p.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"http://127.0.0.1:{port}/readyz")
                    if r.status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker on port {port} not ready")
                await asyncio.sleep(0.3)


def start_profiles(
    folder: Path | None, procs: list[subprocess.Popen[bytes]]
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """py-spy recording each worker (raw stacks), when asked for."""
    if folder is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or str(Path.home() / ".local" / "bin" / "py-spy")
    spies = []
    for p in procs:
        out = folder / f"triage-{p.pid}.spy"
        cmd = [spy, "record", "--nonblocking", "--format", "raw", "--rate", "250", "--pid", str(p.pid), "-o", str(out)]
        spies.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))  # noqa: S603
    time.sleep(1.0)  # noqa: ASYNC251 - py-spy attaching, before the burst starts
    return spies


async def stop_profiles(spies: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Stop the recorders and print each worker's hottest functions (self and total samples)."""
    for spy, _ in spies:
        spy.send_signal(signal.SIGINT)
    for spy, out in spies:
        await asyncio.to_thread(spy.wait, 30)
        own: Counter[str] = Counter()
        total: Counter[str] = Counter()
        samples = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            samples += n
            own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
        print(f"profile {out} ({samples} samples): self, then total (inclusive)")
        for frame, n in own.most_common(25):
            print(f"  self {100 * n / max(samples, 1):5.1f} %  {frame}")
        for frame, n in total.most_common(60):
            print(f"  total {100 * n / max(samples, 1):5.1f} %  {frame}")


async def run(workers: int, args: argparse.Namespace, texts: list[tuple[str, str]]) -> Result:
    db = f"bench_triage_{uuid.uuid4().hex[:8]}"
    vhost = f"bench_triage_{uuid.uuid4().hex[:8]}"
    await dbsetup.setup(admin_dsn=args.pg_admin_dsn, database=db)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    db_url = dbsetup.service_database_url("triage", database=db)
    procs: list[subprocess.Popen[bytes]] = []
    bus = Bus(amqp, service="bench")
    collector = Collector()
    bus.consume("tickets", collector.handle)
    try:
        await upgrade(INI, db_url)
        env = {
            **os.environ,
            "TRIAGE_DATABASE_URL": db_url,
            "RABBITMQ_URL": amqp,
            "TRIAGE_PROVIDER": "local",
            "ENVIRONMENT": "dev",
            "LOG_LEVEL": "WARNING",
            "TRIAGE_RETRAIN_INTERVAL_S": "0",
            "TRIAGE_MODERATOR_CAPACITY": "10000",
            # the machine's Postgres has 100 connections for everyone: stay well within
            "DB_POOL_SIZE": str(args.pool_size),
            "BUS_PREFETCH": str(args.prefetch),
            "TRIAGE_BATCH_SIZE": str(args.batch),
            "TRIAGE_INCIDENTS": "true" if args.incidents == "on" else "false",
        }
        env.pop("GEMINI_API_KEY", None)
        ports = [args.base_port + i for i in range(workers)]
        for port in ports:
            procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - starts servers, returns at once
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "triage.app:create_app",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                )
            )
        await wait_ready(ports, procs, timeout=300)
        await bus.start()
        assert await bus.wait_connected(10)

        for i, queue in enumerate(QUEUES * 2):
            await bus.publish(
                Envelope.wrap(
                    UserRegistered(
                        user_id=uuid.uuid4(),
                        email=f"mod{i}@example.test",
                        name=f"Mod {i}",
                        role="moderator",
                        skills=[queue],
                        created_at=datetime.now(UTC),
                    )
                )
            )
        await bus.publish(
            Envelope.wrap(
                UserRegistered(
                    user_id=uuid.uuid4(),
                    email="admin@example.test",
                    name="Admin",
                    role="admin",
                    created_at=datetime.now(UTC),
                )
            )
        )
        await asyncio.sleep(1.0)

        # warm-up (first requests pay for imports, pools and caches)
        warm = [created_event(*t) for t in texts[:10]]
        collector.expect = len(warm)
        for e in warm:
            await bus.publish(Envelope.wrap(e))
        await asyncio.wait_for(collector.event.wait(), 120)

        # burst: throughput
        burst = [created_event(*t) for t in texts[: args.tickets]]
        envelopes = [Envelope.wrap(e) for e in burst]
        collector.arrived.clear()
        collector.event.clear()
        collector.expect = len(burst)
        spies = start_profiles(args.profile, procs)
        cpu_before = sum(cpu_seconds(p.pid) for p in procs)
        started = time.perf_counter()
        await asyncio.gather(*(bus.publish(e) for e in envelopes))
        await asyncio.wait_for(collector.event.wait(), 600)
        await stop_profiles(spies)
        ids = {str(e.ticket.id) for e in burst}
        last = max(t for k, t in collector.arrived.items() if k in ids)
        burst_s = last - started
        burst_cpu = max(1e-9, sum(cpu_seconds(p.pid) for p in procs) - cpu_before)
        load = os.getloadavg()[0]

        # paced: latency
        await asyncio.sleep(1.0)
        collector.arrived.clear()
        collector.event.clear()
        paced = [created_event(*t) for t in texts[args.tickets : args.tickets + args.paced]]
        collector.expect = len(paced)
        sent_at: dict[str, float] = {}
        for e in paced:
            sent_at[str(e.ticket.id)] = time.perf_counter()
            await bus.publish(Envelope.wrap(e))
            await asyncio.sleep(1.0 / args.rate)
        await asyncio.wait_for(collector.event.wait(), 300)
        lat = sorted((collector.arrived[k] - s) * 1000 for k, s in sent_at.items())
        q = statistics.quantiles(lat, n=100)
        rss = [round(peak_rss_mb(p.pid), 1) for p in procs]
        return Result(
            workers=workers,
            burst_tickets=len(burst),
            burst_seconds=round(burst_s, 2),
            per_second=round(len(burst) / burst_s, 1),
            paced_tickets=len(paced),
            p50_ms=round(q[49], 1),
            p95_ms=round(q[94], 1),
            max_ms=round(lat[-1], 1),
            peak_rss_mb=rss,
            per_cpu_second=round(len(burst) / burst_cpu, 1),
            load=round(load, 1),
        )
    finally:
        await bus.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        with contextlib.suppress(Exception):
            await dbsetup.drop_database(admin_dsn=args.pg_admin_dsn, database=db)
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", vhost)


async def main() -> None:
    parser = argparse.ArgumentParser(description="triage throughput / latency / memory")
    parser.add_argument("--tickets", type=int, default=400, help="burst size")
    parser.add_argument("--paced", type=int, default=100, help="tickets for the latency run")
    parser.add_argument("--rate", type=float, default=20.0, help="paced tickets per second")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--base-port", type=int, default=18300)
    parser.add_argument("--pool-size", type=int, default=5, help="DB_POOL_SIZE of each worker")
    parser.add_argument("--prefetch", type=int, default=64, help="BUS_PREFETCH of each worker")
    parser.add_argument("--batch", type=int, default=32, help="TRIAGE_BATCH_SIZE of each worker")
    parser.add_argument("--pg-admin-dsn", default=os.environ.get("PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--incidents", choices=["on", "off"], default="on", help="TRIAGE_INCIDENTS of the workers")
    parser.add_argument("--profile", type=Path, help="py-spy each worker during the burst, raw stacks in this folder")
    args = parser.parse_args()
    texts = ticket_texts(args.tickets + args.paced)
    results: list[Result] = []
    for n in args.workers:
        results.append(await run(n, args, texts))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; incidents {args.incidents}")
    print("| workers | burst | tickets/s | per worker CPU-s | load | p50 ms | p95 ms | max ms | peak RSS MB (each) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.workers} | {r.burst_tickets} in {r.burst_seconds}s | {r.per_second} | "
            f"{r.per_cpu_second} | {r.load} | {r.p50_ms} | {r.p95_ms} | {r.max_ms} | "
            f"{', '.join(map(str, r.peak_rss_mb))} |"
        )
    if args.json:
        data: list[dict[str, Any]] = [r.__dict__ for r in results]
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
