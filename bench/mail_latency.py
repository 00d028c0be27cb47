"""How long an assignment mail takes to reach the SMTP sink, under a burst of assignments.

    uv run python bench/mail_latency.py [--tickets 500] [--workers 4] [--keep]

Everything runs on this machine against the local Postgres and RabbitMQ, in a fresh database
and vhost (both removed at the end):
- processes: the SMTP sink (`python -m notifier.sink`, storing .eml files in a temp dir) and one
  notifier (`uvicorn notifier.app:create_app`, default settings but the ports), as `make up` runs;
- the burst: `--tickets` ticket.updated events that assign a ticket (what the tickets service
  publishes after triage) are published to the bus with the shared package, with publisher
  confirms, as fast as the broker confirms them (64 in flight);
- the figure, per mail: from the broker's confirm of its event to the moment its .eml file is
  seen in the sink's directory (polled every 5 ms). That spans the bus, the consumer's
  transaction (processed mark + rendered mail queued), the delivery loop, SMTP and the sink's
  write. p50, p95 and max over all mails, plus the time for the whole burst to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from procstat import cpu_seconds, peak_rss_mb, percentile
from shared.bus import Bus
from shared.events import Actor, Envelope, FieldChange, TicketSnapshot, TicketUpdated, UserRef
from shared.migrations import upgrade

from shared import dbsetup

ROOT = Path(__file__).resolve().parents[1]
INI = ROOT / "services" / "notifier" / "alembic.ini"
ADMIN_DSN = os.environ.get("PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN)
RABBIT = os.environ.get("BENCH_RABBITMQ", "guest:guest@127.0.0.1:5672")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def assignment(n: int, moderators: list[UserRef]) -> Envelope:
    now = datetime.now(UTC)
    assignee = moderators[n % len(moderators)]
    ticket = TicketSnapshot(
        id=uuid.uuid4(),
        title=f"Bench ticket {n}",
        description="The VPN drops every few minutes since this morning.\nSee logs attached.",
        status="open",
        priority="medium",
        category="Network",
        related_skills=["vpn"],
        helpful_notes="Ask for the client version; check the MTU.",
        created_by=UserRef(id=uuid.uuid4(), name=f"Requester {n}", email=f"req{n}@bench.test"),
        assigned_to=assignee,
        due_at=now + timedelta(hours=8),
        created_at=now,
        updated_at=now,
        triage_state="done",
        assignment_reason="skills match: vpn; fewest open tickets",
    )
    return Envelope.wrap(
        TicketUpdated(
            ticket=ticket,
            version=2,
            actor=Actor(kind="system"),
            changes={"assigned_to": FieldChange(old=None, new=str(assignee.id))},
        )
    )


async def wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def subject_number(path: Path) -> int | None:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    subject = str(message["Subject"] or "")
    marker = "Bench ticket "
    if marker not in subject:
        return None
    return int(subject.rsplit(marker, 1)[1].split()[0])


async def run(args: argparse.Namespace) -> None:
    database = f"hd_bench_mail_{uuid.uuid4().hex[:8]}"
    vhost = f"hd_bench_mail_{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="mail-latency-"))
    mail_dir = workdir / "mail"
    smtp_port, http_port = free_port(), free_port()
    rabbitmq_url = f"amqp://{RABBIT}/{vhost}"
    procs: list[subprocess.Popen[bytes]] = []
    print(f"database {database}, vhost {vhost}, mail in {mail_dir}", flush=True)
    await dbsetup.setup(admin_dsn=ADMIN_DSN, database=database)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, RABBIT.split(":")[0], ".*", ".*", ".*")
    db_url = dbsetup.service_database_url("notifier", database=database)
    try:
        await upgrade(INI, db_url)
        env = {
            **os.environ,
            "ENVIRONMENT": "dev",
            "NOTIFIER_DATABASE_URL": db_url,
            "RABBITMQ_URL": rabbitmq_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "MAIL_WORKERS": str(args.workers),
            "DB_POOL_SIZE": str(args.pool),
            "WEB_BASE_URL": "http://127.0.0.1:8000",
            "LOG_LEVEL": "WARNING",
        }
        logs = (workdir / "sink.log").open("wb"), (workdir / "notifier.log").open("wb")
        sink_argv = ["-m", "notifier.sink", "--port", str(smtp_port), "--dir", str(mail_dir)]
        procs.append(subprocess.Popen([sys.executable, *sink_argv], env=env, stdout=logs[0], stderr=subprocess.STDOUT))  # noqa: ASYNC220
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        uvicorn_argv = [*profile, "-m", "uvicorn", "notifier.app:create_app", "--factory", "--port", str(http_port)]
        procs.append(
            subprocess.Popen([sys.executable, *uvicorn_argv], env=env, stdout=logs[1], stderr=subprocess.STDOUT)  # noqa: ASYNC220
        )
        await wait_port(smtp_port, 30)
        await wait_http(f"http://127.0.0.1:{http_port}/readyz", 60)

        bus = Bus(rabbitmq_url, service="mail-latency-bench")
        await bus.start()
        if not await bus.wait_connected(30):
            raise RuntimeError("cannot reach RabbitMQ")
        moderators = [UserRef(id=uuid.uuid4(), name=f"Moderator {i}", email=f"mod{i}@bench.test") for i in range(20)]
        envelopes = [assignment(n, moderators) for n in range(args.tickets)]
        confirmed: dict[int, float] = {}
        seen: dict[int, float] = {}
        known: set[str] = set()
        done = asyncio.Event()

        async def watch() -> None:
            while len(seen) < args.tickets:
                stamp = time.perf_counter()
                for entry in os.scandir(mail_dir) if mail_dir.exists() else ():
                    if entry.name.endswith(".eml") and entry.name not in known:
                        known.add(entry.name)
                        number = subject_number(Path(entry.path))
                        if number is not None and number not in seen:
                            seen[number] = stamp
                await asyncio.sleep(0.005)
            done.set()

        limit = asyncio.Semaphore(64)

        async def publish(n: int, envelope: Envelope) -> None:
            async with limit:
                await bus.publish(envelope)
                confirmed[n] = time.perf_counter()

        cpu_before = [cpu_seconds(p.pid) for p in procs]
        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        await asyncio.gather(*(publish(n, e) for n, e in enumerate(envelopes)))
        published = time.perf_counter()
        try:
            await asyncio.wait_for(done.wait(), timeout=args.timeout)
        except TimeoutError:
            print(f"timed out: {len(seen)} of {args.tickets} mails arrived", flush=True)
        watcher.cancel()
        await bus.close()
        drained = max(seen.values()) if seen else time.perf_counter()

        cpu_used = [cpu_seconds(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)]
        latencies = [seen[n] - confirmed[n] for n in seen if n in confirmed]
        files = len(list(mail_dir.glob("*.eml")))
        print()
        print("mail latency: broker confirm of the ticket.updated assignment event -> .eml in the sink dir")
        print(f"  burst of {args.tickets} assignments, published in {published - started:.2f} s (64 in flight)")
        print(
            f"  notifier: 1 process, MAIL_WORKERS={args.workers}, DB_POOL_SIZE={args.pool}; "
            "sink: notifier.sink subprocess"
        )
        print("  (no triage here: the assignments are published as they are, so incident grouping plays no part)")
        print(f"  mails arrived: {len(seen)} / {args.tickets} ({files} .eml files; duplicates: {files - len(seen)})")
        if latencies:
            print(
                f"  p50 {statistics.median(latencies) * 1000:.0f} ms   "
                f"p95 {percentile(latencies, 95) * 1000:.0f} ms   "
                f"max {max(latencies) * 1000:.0f} ms   "
                f"min {min(latencies) * 1000:.0f} ms"
            )
            print(
                f"  CPU during the burst: notifier {cpu_used[1]:.1f} s "
                f"({cpu_used[1] / max(len(seen), 1) * 1000:.1f} ms/mail), sink {cpu_used[0]:.1f} s; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            print(
                f"  whole burst drained {drained - started:.2f} s after the first publish "
                f"({len(seen) / max(drained - started, 1e-9):.0f} mails/s; "
                f"{len(seen) / max(cpu_used[1], 1e-9):.0f} per notifier CPU-second)"
            )
            if args.json:
                import json

                args.json.write_text(
                    json.dumps(
                        {
                            "mails": len(seen),
                            "duplicates": files - len(seen),
                            "mails_per_s": round(len(seen) / max(drained - started, 1e-9), 1),
                            "mails_per_cpu_s": round(len(seen) / max(cpu_used[1], 1e-9), 1),
                            "p50_ms": round(statistics.median(latencies) * 1000),
                            "p95_ms": round(percentile(latencies, 95) * 1000),
                            "peak_rss_mb": {"notifier": peak_rss_mb(procs[1].pid), "sink": peak_rss_mb(procs[0].pid)},
                            "load": round(os.getloadavg()[0], 1),
                        }
                    )
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            await dbsetup.drop_database(admin_dsn=ADMIN_DSN, database=database)
            await asyncio.to_thread(
                subprocess.run, ["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, check=False
            )
        print(f"logs in {workdir}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="MAIL_WORKERS of the notifier")
    parser.add_argument("--pool", type=int, default=10, help="DB_POOL_SIZE of the notifier")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the database and vhost")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", help="run the notifier under cProfile, writing stats here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
