"""The whole pipeline under a sustained rate: ticket created → the assignee's mail in the sink.

    uv run python bench/pipeline_bench.py [--rate 100] [--seconds 10] [--json out.json]

Starts its own stack instance (scripts/stack.py through helpdesk_testing.stack: every process of
`make up`, its own ports, database, vhost and mail folder; removed at the end), signs up five
moderators and twenty requesters, then POSTs tickets through the gateway at `--rate` per second
(open loop: request i leaves at i / rate) for `--seconds`. For each ticket: from its 201 to the
moment the assignment mail (X-Helpdesk-Kind: ticket_assigned) for it appears in the sink's
folder (its file's mtime). That spans tickets' outbox relay, triage, tickets applying the
decision, its relay again, the notifier's consumer, its delivery loop and SMTP. Incident
grouping is off in the bench stack (TRIAGE_INCIDENTS=false): its tickets repeat seven subjects,
would join incidents and get no assignment mail of their own. Moderators are verified through
the mailed link before they are promoted (only a verified account may be given a staff role).
Prints p50/p95/max, mails missing at the end, and each process's peak RSS (VmHWM).
Hold the stack lock: `flock /tmp/helpdesk-stack.lock uv run python bench/pipeline_bench.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.message
import email.policy
import json
import os
import re
import resource
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Callable
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from helpdesk_testing.stack import Stack
from procstat import cpu_seconds, machine_cpu, peak_rss_mb, percentile

SUBJECTS = [
    ("Charged twice for my subscription", "My card was billed two times this month, please refund one."),
    ("Cannot log in to the dashboard", "Password reset mail never arrives and login fails with an error."),
    ("API returns 500 on upload", "Uploading a CSV through the REST API fails with an internal error."),
    ("Whole service down", "Nothing loads since 9am, all our users are blocked. Urgent outage."),
    ("Refund for a returned laptop", "I sent the laptop back two weeks ago and have no refund yet."),
    ("VPN disconnects every hour", "The corporate VPN drops connection regularly on Windows 11."),
    ("Database connection timeouts", "Our Postgres instance times out under load since the upgrade."),
]
MODERATOR_SKILLS = [
    ["billing", "payments", "refunds"],
    ["account", "login", "security"],
    ["api", "integration", "technical support"],
    ["outage", "network", "infrastructure", "database"],
    ["returns", "sales", "customer service"],
]


class MailWatch:
    """The time each ticket's assignment mail was written into the sink folder (its file's mtime).

    The stamp is the file's own (wall clock, as the creation stamps), so the folder can be read
    seldom: reading it every 10 ms cost this bench more CPU per ticket than some services.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, float] = {}
        self._names: set[str] = set()
        self._parser = BytesHeaderParser()

    def scan(self) -> None:
        if not self.folder.exists():
            return
        for entry in os.scandir(self.folder):
            if not entry.name.endswith(".eml") or entry.name in self._names:
                continue
            self._names.add(entry.name)
            with open(entry.path, "rb") as fh:
                headers = self._parser.parse(fh)
                stamp = os.fstat(fh.fileno()).st_mtime
            if headers.get("X-Helpdesk-Kind") == "ticket_assigned":
                ticket = str(headers.get("X-Helpdesk-Ticket") or "")
                self.seen.setdefault(ticket, stamp)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.scan)
            await asyncio.sleep(0.25)


async def until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not done() and time.perf_counter() < deadline:  # noqa: ASYNC110 - polls another task's dict
        await asyncio.sleep(0.1)


def find_verification_token(folder: Path, address: str) -> str | None:
    """The token of the verification link mailed to `address`, if it is in the sink folder."""
    for path in sorted(folder.glob("*.eml")) if folder.exists() else ():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["X-Helpdesk-Kind"] != "verify_email" or message["To"].addresses[0].addr_spec != address:
            continue
        body = message.get_body(preferencelist=("plain",))
        match = re.search(r"/verify\?token=([A-Za-z0-9_.%-]+)", body.get_content() if body else "")
        if match:
            return urllib.parse.unquote(match.group(1))
    return None


async def verification_token(folder: Path, address: str, timeout: float = 30) -> str:
    """Waits for the verification link the notifier mails to `address`; its token."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        token = await asyncio.to_thread(find_verification_token, folder, address)
        if token:
            return token
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no verification mail to {address} within {timeout}s")


async def setup_people(client: httpx.AsyncClient, stack: Stack, run_id: str) -> list[str]:
    admin_email, admin_password = stack.admin
    admin = (await client.post("/api/auth/login", json={"email": admin_email, "password": admin_password})).json()
    headers = {"Authorization": f"Bearer {admin['token']}"}
    for i, skills in enumerate(MODERATOR_SKILLS):
        email = f"mod{i}-{run_id}@bench.test"
        r = await client.post("/api/auth/signup", json={"email": email, "password": "moderator-pass-1"})
        r.raise_for_status()
        # only a verified account may be promoted: follow the mailed link, as its owner would
        token = await verification_token(stack.mail_dir, email)
        (await client.post("/api/auth/verify", json={"token": token})).raise_for_status()
        (
            await client.post(
                "/api/auth/update-user", headers=headers, json={"email": email, "role": "moderator", "skills": skills}
            )
        ).raise_for_status()
    tokens = []
    for i in range(20):
        r = await client.post(
            "/api/auth/signup", json={"email": f"user{i}-{run_id}@bench.test", "password": "requester-pass-1"}
        )
        r.raise_for_status()
        tokens.append(r.json()["token"])
    await asyncio.sleep(2.0)  # triage learns the moderators from user.updated
    return tokens


async def load(
    http: aiohttp.ClientSession,
    base_url: str,
    tokens: list[str],
    *,
    count: int,
    rate: float,
    run_id: str,
    created: dict[str, float],
    errors: list[str],
) -> float:
    """POST `count` tickets at `rate` per second (open loop); `created`: id -> wall-clock time of its 201."""
    started = time.perf_counter()

    async def one(i: int) -> None:
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        title, body = SUBJECTS[i % len(SUBJECTS)]
        try:
            async with http.post(
                f"{base_url}/api/tickets",
                json={"title": f"{title} [{run_id}-{i}]", "description": body},
                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
            ) as r:
                if r.status != 201:
                    errors.append(str(r.status))
                    return
                ticket = await r.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors.append(type(exc).__name__)
            return
        created[ticket["id"]] = time.time()

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


# Where the time goes, per ticket, from the rows the services wrote (transaction start times):
# the ticket.created outbox row (created / published), triage's ticket.triaged row, tickets'
# ticket.updated row carrying the assignment, the notifier's delivery (queued / sent).
STAGES_SQL = """
WITH created AS (
    SELECT envelope->'data'->'ticket'->>'id' AS ticket, created_at, published_at
    FROM tickets.outbox WHERE routing_key = 'ticket.created'
), triaged AS (
    SELECT DISTINCT ON (envelope->'data'->>'ticket_id') envelope->'data'->>'ticket_id' AS ticket,
           created_at, published_at
    FROM triage.outbox WHERE routing_key = 'ticket.triaged'
    ORDER BY envelope->'data'->>'ticket_id', created_at
), assigned AS (
    SELECT DISTINCT ON (envelope->'data'->'ticket'->>'id') envelope->'data'->'ticket'->>'id' AS ticket,
           created_at, published_at
    FROM tickets.outbox
    WHERE routing_key = 'ticket.updated' AND envelope->'data'->'changes' ? 'assigned_to'
    ORDER BY envelope->'data'->'ticket'->>'id', created_at
), mailed AS (
    SELECT ticket_id::text AS ticket, created_at, sent_at
    FROM notifier.deliveries WHERE kind = 'ticket_assigned'
)
SELECT c.ticket,
       extract(epoch FROM c.published_at - c.created_at) AS "tickets relay (created)",
       extract(epoch FROM t.created_at - c.published_at) AS "broker + triage",
       extract(epoch FROM t.published_at - t.created_at) AS "triage relay",
       extract(epoch FROM a.created_at - t.published_at) AS "broker + tickets applies",
       extract(epoch FROM a.published_at - a.created_at) AS "tickets relay (updated)",
       extract(epoch FROM m.created_at - a.published_at) AS "broker + notifier queues",
       extract(epoch FROM m.sent_at - m.created_at) AS "delivery loop + SMTP"
FROM created c JOIN triaged t USING (ticket) JOIN assigned a USING (ticket) JOIN mailed m USING (ticket)
WHERE c.ticket = ANY($1::text[])
"""


async def stages(stack: Stack, tickets: list[str]) -> dict[str, dict[str, float]]:
    """p50/p95 (ms) of each stage of the tickets' way to their mail (see STAGES_SQL)."""
    import asyncpg

    from shared import dbsetup

    dsn = os.environ.get("PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN).rsplit("/", 1)[0] + "/" + stack.database
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(STAGES_SQL, tickets)
    finally:
        await conn.close()
    out: dict[str, dict[str, float]] = {}
    for name in rows[0].keys() if rows else []:
        if name == "ticket":
            continue
        values = [float(r[name]) for r in rows if r[name] is not None]
        if values:
            out[name] = {
                "p50_ms": round(statistics.median(values) * 1000),
                "p95_ms": round(percentile(values, 95) * 1000),
            }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack.unique("bench")
    env = {
        "TICKETS_CREATE_QUOTA": "0",
        "AUTH_SIGNUP_ADDRESS_LIMIT": "0",
        "DB_POOL_SIZE": str(args.pool),
        "BUS_PREFETCH": str(args.prefetch),
        "TRIAGE_MODERATOR_CAPACITY": "10000",
        # the bench's tickets repeat seven subjects: grouped into incidents, most would join one
        # and get no assignment mail of their own, so grouping is off for this measurement
        "TRIAGE_INCIDENTS": "false",
        "LOG_LEVEL": "WARNING",
    }
    print(
        f"pipeline bench: stack {stack.instance}, {args.rate:.0f} tickets/s for {args.seconds:.0f} s "
        "(TRIAGE_INCIDENTS=false: every ticket is assigned on its own)",
        flush=True,
    )
    try:
        await asyncio.to_thread(stack.up, env)
        run_id = uuid.uuid4().hex[:6]
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30, limits=limits) as client:
            tokens = await setup_people(client, stack, run_id)
            watch = MailWatch(stack.mail_dir)
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch.run(stop))
            # the load through aiohttp: httpx cost this bench about 1 ms of CPU per request
            http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=30)
            )
            # warm-up: the first tickets pay for imports, pools and caches
            warm: dict[str, float] = {}
            await load(http, stack.base_url, tokens, count=20, rate=20, run_id=f"warm{run_id}", created=warm, errors=[])
            await until(lambda: set(warm) <= set(watch.seen), 60)

            created: dict[str, float] = {}
            errors: list[str] = []
            count = int(args.rate * args.seconds)
            pids = {f.stem: int(f.read_text()) for f in sorted((stack.var / "run").glob("*.pid"))}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            machine_before = machine_cpu()
            client_before = resource.getrusage(resource.RUSAGE_SELF)
            took = await load(
                http, stack.base_url, tokens, count=count, rate=args.rate, run_id=run_id, created=created, errors=errors
            )
            await http.close()
            await until(lambda: set(created) <= set(watch.seen), args.drain)
            cpu_used = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
            machine_after = machine_cpu()
            client_after = resource.getrusage(resource.RUSAGE_SELF)
            # this bench itself (HTTP client and mail folder watcher) shares the machine's cores
            cpu_used["bench client"] = round(
                client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime, 1
            )
            stop.set()
            await watcher
        latencies = [watch.seen[t] - at for t, at in created.items() if t in watch.seen]
        try:
            breakdown = await stages(stack, list(created))
        except Exception as exc:  # noqa: BLE001 - a figure less, not a failed bench
            print(f"no stage breakdown: {exc}", flush=True)
            breakdown = {}
        rss = {}
        for pid_file in sorted((stack.var / "run").glob("*.pid")):
            with contextlib.suppress(ValueError):
                rss[pid_file.stem] = peak_rss_mb(int(pid_file.read_text()))
        result: dict[str, Any] = {
            "rate": args.rate,
            "offered": count,
            "achieved_rate": round(count / took, 1),
            "created": len(created),
            "errors": len(errors),
            "mailed": len(latencies),
            "missing": len(created) - len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
            "p95_ms": round(percentile(latencies, 95) * 1000) if latencies else None,
            "max_ms": round(max(latencies) * 1000) if latencies else None,
            "rss_mb": rss,
            "stages": breakdown,
            # CPU seconds each process used from the first ticket to the last mail
            "cpu_s": cpu_used,
            # the whole machine meanwhile (Postgres, RabbitMQ, this client and anything else running)
            "machine_busy_pct": round(
                100 * (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1e-9)
            ),
            "load": round(os.getloadavg()[0], 1),
        }
    finally:
        if not args.keep:
            await asyncio.to_thread(stack.purge)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="tickets created per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last mails")
    parser.add_argument("--pool", type=int, default=6, help="DB_POOL_SIZE of each process")
    parser.add_argument("--prefetch", type=int, default=32, help="BUS_PREFETCH of each process")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(
        f"created {result['created']} of {result['offered']} at {result['achieved_rate']}/s "
        f"(errors {result['errors']}); assignment mails {result['mailed']}, missing {result['missing']}"
    )
    print(
        f"created -> assignee's mail: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"max {result['max_ms']} ms; load average {result['load']} on {os.cpu_count()} cores"
    )
    for name, figures in result["stages"].items():
        print(f"  {name:<28} p50 {figures['p50_ms']:>6} ms   p95 {figures['p95_ms']:>6} ms")
    print(
        "CPU seconds during the run: "
        + ", ".join(f"{k} {v}" for k, v in result["cpu_s"].items())
        + f"; the machine's cores {result['machine_busy_pct']} % busy"
    )
    print("peak RSS MB: " + ", ".join(f"{k} {v}" for k, v in result["rss_mb"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
