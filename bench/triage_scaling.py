"""Scale-out of triage on one machine: 1, 2 and 4 worker processes on the same queue.

Each round starts N processes of the triage app (the very command of deploy/processes.toml,
each on its own port) against a database and a RabbitMQ vhost made for this bench, waits until
they are ready, publishes the `ticket.created` events of T new tickets to the exchange, and
times until a queue of its own (bound to ticket.triaged and ticket.triage_failed) has received
one result per ticket. It checks that no ticket was triaged twice, and reads from each worker's
/metrics how many tickets it handled (competing consumers share the queue).

    uv run python bench/triage_scaling.py [--tickets 400] [--workers 1,2,4]
    uv run python bench/triage_scaling.py --pgbouncer --workers 1,5,10,20   # through PgBouncer

`--pgbouncer` starts a PgBouncer (Debian's `pgbouncer` binary) in transaction-pooling mode
between the workers and Postgres, with `--server-pool` server connections, and runs the
workers with DB_BEHIND_POOLER=true; the table then also shows the peak number of Postgres
connections to the bench's database during each round.

Needs the machine's Postgres (superuser DSN: PG_ADMIN_DSN, default postgres@127.0.0.1) and
RabbitMQ (rabbitmqctl, to make the vhost). Removes its database and vhost at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import shared.dbsetup as dbsetup
from shared.bus import Bus
from shared.events import (
    Envelope,
    TicketCreated,
    TicketSnapshot,
    UserRef,
    UserRegistered,
)
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
BASE_PORT = 18600
RESULT_TYPES = ("ticket.triaged", "ticket.triage_failed")

TEXTS = [
    ("Refund for a double charge", "My card was charged twice for the March invoice, please refund."),
    ("Cannot log in", "The login page says my password is wrong although I reset it twice."),
    ("App crashes on upload", "Uploading a PDF larger than 10 MB crashes the mobile app."),
    ("Change billing address", "We moved offices; the invoices must show the new address."),
    ("API returns 500", "POST /v1/orders answers 500 since this morning for every request."),
    ("Slow dashboard", "The analytics dashboard takes a minute to load for our team."),
    ("Add a team member", "How do I invite a colleague to our workspace with admin rights?"),
    ("Cancel subscription", "Please cancel our plan at the end of the current billing period."),
]
STAFF = [
    ("Ada", "moderator", ["billing", "payments"]),
    ("Linus", "moderator", ["api", "backend"]),
    ("Grace", "moderator", ["mobile", "uploads"]),
    ("Alan", "moderator", ["accounts", "login"]),
    ("Root", "admin", []),
]


def triage_command(port: int) -> list[str]:
    """deploy/processes.toml's triage command, on another port."""
    spec = tomllib.loads((ROOT / "deploy" / "processes.toml").read_text())
    command = next(p["command"] for p in spec["process"] if p["name"] == "triage")
    command = list(command)
    command[command.index("--port") + 1] = str(port)
    exe = ROOT / ".venv" / "bin" / command[0]
    return [str(exe) if exe.exists() else command[0], *command[1:]]


class Bouncer:
    """A PgBouncer in transaction-pooling mode in front of the bench's database."""

    PORT = 18590

    def __init__(self, fixture: Fixture, server_pool: int, logs: Path) -> None:
        folder = logs / "pgbouncer"
        folder.mkdir()
        folder.chmod(0o777)  # noqa: S103 - it drops to the postgres user and writes its pid here
        logs.chmod(0o755)
        (folder / "users.txt").write_text('"helpdesk_triage" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{fixture.database} = host=127.0.0.1 port=5432 dbname={fixture.database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.PORT}\n"
            "auth_type = trust\n"
            f"auth_file = {folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {server_pool}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
            "max_client_conn = 2000\nserver_idle_timeout = 30\nserver_lifetime = 300\n"
            f"pidfile = {folder / 'pgbouncer.pid'}\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        for child in folder.iterdir():
            child.chmod(0o644)
        self.log = open(folder / "pgbouncer.log", "w")  # noqa: SIM115 - kept open
        command = ["pgbouncer", str(folder / "pgbouncer.ini")]
        if os.geteuid() == 0:  # it refuses to run as root
            command[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = fixture.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.PORT}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.PORT)) == 0:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {(folder / 'pgbouncer.log').read_text()[-500:]}")
            time.sleep(0.1)
        raise RuntimeError("pgbouncer did not listen")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        self.log.close()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=180)


@dataclass
class Fixture:
    database: str
    database_url: str
    vhost: str
    rabbitmq_url: str
    admin_dsn: str


async def make_fixture() -> Fixture:
    tag = f"bench_triage_{uuid.uuid4().hex[:8]}"
    admin_dsn = os.environ.get("PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN)
    await dbsetup.setup(admin_dsn=admin_dsn, database=tag)
    url = dbsetup.service_database_url("triage", database=tag)
    await upgrade(ROOT / "services" / "triage" / "alembic.ini", url)
    await asyncio.to_thread(rabbitmqctl, "add_vhost", tag)
    await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", tag, "guest", ".*", ".*", ".*")
    return Fixture(tag, url, tag, f"amqp://guest:guest@127.0.0.1:5672/{tag}", admin_dsn)


async def postgres_connections(admin_dsn: str) -> tuple[int, int]:
    """(connections in use, max_connections) of the Postgres server: it is shared."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        used = await conn.fetchval("SELECT count(*) FROM pg_stat_activity")
        limit = await conn.fetchval("SELECT current_setting('max_connections')::int")
        return int(used), int(limit)
    finally:
        await conn.close()


async def drop_fixture(fixture: Fixture) -> None:
    try:
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", fixture.vhost)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"could not delete vhost {fixture.vhost}: {exc}", file=sys.stderr)
    await dbsetup.drop_database(admin_dsn=fixture.admin_dsn, database=fixture.database)


class Workers:
    """N triage processes, each with its own port and log file."""

    def __init__(self, count: int, fixture: Fixture, logs: Path, database_url: str | None = None) -> None:
        self.ports = [BASE_PORT + i for i in range(count)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "TRIAGE_"))}
        env.update(
            {
                "ENVIRONMENT": "dev",
                "LOG_LEVEL": "WARNING",
                "LOG_JSON": "false",
                "TRIAGE_DATABASE_URL": database_url or fixture.database_url,
                "RABBITMQ_URL": fixture.rabbitmq_url,
                "DB_BEHIND_POOLER": "true" if database_url else "false",
                "TRIAGE_PROVIDER": "local",
                "TRIAGE_RETRAIN_INTERVAL_S": "0",
                # every ticket finds a moderator: the bench measures triage, not a full team
                "TRIAGE_MODERATOR_CAPACITY": "10000",
                # as deploy/k8s: each message in flight holds a connection; more would wait for one
                "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", "5"),
                "BUS_PREFETCH": os.environ.get("BUS_PREFETCH", "8"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.processes = []
        self.logs = [logs / f"triage-{count}-{port}.log" for port in self.ports]
        for port, path in zip(self.ports, self.logs, strict=True):
            log = open(path, "w")  # noqa: SIM115 - kept open
            # a folder of its own: no .env of a developer's stack is read
            self.processes.append(
                subprocess.Popen(
                    triage_command(port),
                    env=env,
                    cwd=logs,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for port, process in zip(self.ports, self.processes, strict=True):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"triage on {port} exited with {process.returncode}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"triage on {port} not ready after {timeout} s")
                time.sleep(0.3)

    def handled(self) -> list[int]:
        """Tickets each worker triaged, from its /metrics (bus_events_consumed_total)."""
        pattern = re.compile(
            r'^bus_events_consumed_total\{(?=[^}]*queue="triage")(?=[^}]*type="ticket\.created")'
            r'(?=[^}]*outcome="ok")[^}]*\} ([0-9.e+]+)$',
            re.M,
        )
        counts = []
        for port in self.ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
            counts.append(int(sum(float(m) for m in pattern.findall(text))))
        return counts

    def retries(self) -> tuple[int, int]:
        """Handler failures (each one a requeue) and, among them, Postgres refusing a connection."""
        failed = refused = 0
        for path in self.logs:
            for line in path.read_text(errors="replace").splitlines():
                if "event_failed" in line:
                    failed += 1
                    refused += "remaining connection slots" in line or "TooManyConnections" in line
        return failed, refused

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Collector:
    """A private queue bound to the results triage publishes."""

    def __init__(self, url: str) -> None:
        self.bus = Bus(url, service="bench")
        self.results: Counter[str] = Counter()
        self.event = asyncio.Event()
        self.expected: set[str] = set()
        self.bus.subscribe(RESULT_TYPES, self._on_result)

    async def _on_result(self, envelope: Envelope) -> None:
        ticket_id = str(envelope.data.get("ticket_id"))
        self.results[ticket_id] += 1
        if self.expected and self.expected <= set(self.results):
            self.event.set()

    def expect(self, ticket_ids: set[str]) -> None:
        self.results.clear()
        self.event.clear()
        self.expected = ticket_ids


def ticket_created(i: int) -> Envelope:
    title, description = TEXTS[i % len(TEXTS)]
    now = datetime.now(UTC)
    snapshot = TicketSnapshot(
        id=uuid.uuid4(),
        title=f"{title} #{i}",
        description=description,
        status="open",
        created_by=UserRef(id=uuid.uuid4(), name=f"Customer {i}", email=f"c{i}@example.test"),
        created_at=now,
        updated_at=now,
    )
    return Envelope.wrap(TicketCreated(ticket=snapshot))


async def publish_all(bus: Bus, envelopes: list[Envelope]) -> None:
    for start in range(0, len(envelopes), 100):
        await asyncio.gather(*(bus.publish(e) for e in envelopes[start : start + 100]))


async def peak_connections(admin_dsn: str, database: str, stop: asyncio.Event) -> int:
    """The most Postgres backends connected to `database` while the round runs."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    peak = 0
    try:
        while not stop.is_set():
            count = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)
            peak = max(peak, int(count))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
    finally:
        await conn.close()
    return peak


async def run_round(
    workers: int,
    tickets: int,
    fixture: Fixture,
    collector: Collector,
    publisher: Bus,
    logs: Path,
    timeout: float,
    database_url: str | None = None,
) -> dict[str, object]:
    group = Workers(workers, fixture, logs, database_url)
    stop = asyncio.Event()
    watcher = asyncio.create_task(peak_connections(fixture.admin_dsn, fixture.database, stop))
    try:
        # 20 processes loading their model on two busy cores take a while to be ready
        await asyncio.to_thread(group.wait_ready, max(120.0, 15.0 * workers))
        envelopes = [ticket_created(i) for i in range(tickets)]
        collector.expect({e.data["ticket"]["id"] for e in envelopes})
        started = time.perf_counter()
        await publish_all(publisher, envelopes)
        try:
            await asyncio.wait_for(collector.event.wait(), timeout=timeout)
        except TimeoutError:
            pass  # reported below as missing tickets
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)  # a duplicate, if any, would arrive right behind
        shares = await asyncio.to_thread(group.handled)
    finally:
        await asyncio.to_thread(group.stop)
        stop.set()
    peak = await watcher
    failed, refused = group.retries()
    duplicates = sum(n - 1 for n in collector.results.values() if n > 1)
    done = len(collector.expected & set(collector.results))
    return {
        "workers": workers,
        "tickets": tickets,
        "seconds": elapsed,
        "rate": done / elapsed,
        "shares": shares,
        "duplicates": duplicates,
        "missing": len(collector.expected - set(collector.results)),
        "retries": failed,
        "refused": refused,
        "peak": peak,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=400, help="tickets per round")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma separated")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per round at most")
    parser.add_argument("--pgbouncer", action="store_true", help="workers reach Postgres through PgBouncer")
    parser.add_argument(
        "--server-pool", type=int, default=16, help="PgBouncer's server connections to Postgres (default_pool_size)"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    if shutil.which("rabbitmqctl") is None:
        print("rabbitmqctl is needed to make the bench's vhost", file=sys.stderr)
        return 2

    fixture = await make_fixture()
    logs = Path(tempfile.mkdtemp(prefix="triage-scaling-"))
    publisher = Bus(fixture.rabbitmq_url, service="bench")
    collector = Collector(fixture.rabbitmq_url)
    rows = []
    bouncer: Bouncer | None = None
    try:
        if args.pgbouncer:
            bouncer = Bouncer(fixture, args.server_pool, logs)
        url = bouncer.url if bouncer else None
        await publisher.start()
        await collector.bus.start()
        if not (await publisher.wait_connected(15) and await collector.bus.wait_connected(15)):
            raise RuntimeError("cannot reach RabbitMQ")
        # the staff directory triage assigns from, and a warm-up (first model training)
        for name, role, skills in STAFF:
            await publisher.publish(
                Envelope.wrap(
                    UserRegistered(
                        user_id=uuid.uuid4(),
                        email=f"{name.lower()}@example.test",
                        name=name,
                        role=role,
                        skills=skills,
                        created_at=datetime.now(UTC),
                    )
                )
            )
        await run_round(1, 20, fixture, collector, publisher, logs, args.timeout, url)
        used, limit = await postgres_connections(fixture.admin_dsn)
        print(
            f"triage scale-out: {args.tickets} tickets per round, local analyzer, "
            f"{os.cpu_count()} CPU cores shared with Postgres and RabbitMQ; Postgres "
            f"connections in use by others: {used} of {limit}; per worker at most "
            f"{2 * int(os.environ.get('DB_POOL_SIZE', '5'))}"
            + (f"; through PgBouncer (transaction pooling, {args.server_pool} server connections)" if bouncer else ""),
            flush=True,
        )
        for count in counts:
            row = await run_round(count, args.tickets, fixture, collector, publisher, logs, args.timeout, url)
            rows.append(row)
            print(f"  {count} worker(s): {row['rate']:.1f} tickets/s", flush=True)
    finally:
        await publisher.close()
        await collector.bus.close()
        if bouncer is not None:
            bouncer.stop()
        await drop_fixture(fixture)

    print()
    print(
        "| workers | tickets | seconds | tickets/s | speed-up | per worker | duplicates | missing "
        "| retries (Postgres refused) | Postgres connections (peak) |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    base = rows[0]["rate"] if rows else 1.0
    for row in rows:
        shares = " / ".join(str(n) for n in row["shares"])  # type: ignore[attr-defined]
        print(
            f"| {row['workers']} | {row['tickets']} | {row['seconds']:.2f} | "
            f"{row['rate']:.1f} | {row['rate'] / base:.2f}x | {shares} | "  # type: ignore[operator]
            f"{row['duplicates']} | {row['missing']} | {row['retries']} ({row['refused']}) | "
            f"{row['peak']} |"
        )
    print(f"\nworker logs: {logs}")
    failed = any(row["duplicates"] or row["missing"] for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
