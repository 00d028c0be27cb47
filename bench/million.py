"""A million tickets: list, search and stats latency through the gateway, with EXPLAIN of each query.

    make bench-million          # = uv run python bench/million.py [--tickets 1000000] [--requests 40]

Holds /tmp/helpdesk-stack.lock (like `flock /tmp/helpdesk-stack.lock ...`) while it runs:
1. starts a stack instance of its own (scripts/stack.py --instance million_<pid>, small pools);
2. signs up a user and a moderator through the gateway (the admin is the bootstrap one);
3. seeds `--tickets` tickets into the instance's tickets schema with COPY (not the API): two
   years of history, 20,000 requesters, 40 moderators plus the bench's one, statuses, priorities,
   categories, SLA deadlines, triage and resolve times, a few hundred waiting for capacity; the
   tickets table's secondary indexes are dropped for the COPY and rebuilt from their own
   definitions afterwards, then VACUUM ANALYZE (what a restore would do); the statistics
   rollup's statement trigger (migration 0010) adds the COPY's figures in one statement;
4. measures p50/p95 of GET /api/tickets for each role and filter, search, a second page, and
   GET /api/stats, one client, `--requests` timed requests after 3 warm-ups each;
5. runs EXPLAIN ANALYZE of exactly the SQL the tickets service runs for each of those requests
   (its own service functions, statements captured from the engine) and reports the indexes used
   and any sequential scan of tickets;
6. prints the table, then purges the instance (database, vhost, folder) whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from helpdesk_testing.stack import Stack

ROOT = Path(__file__).resolve().parents[1]

LOCK = "/tmp/helpdesk-stack.lock"  # noqa: S108 - the machine-wide lock every whole-stack run takes
ADMIN_DSN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

CATEGORIES = [
    "Billing",
    "Network",
    "Hardware",
    "Access",
    "Email",
    "Software",
    "Security",
    "Database",
    "Printing",
    "Mobile",
    "Accounts",
    "Other",
]
COMMON = (
    "printer invoice refund password login account email server network wifi vpn laptop screen "
    "keyboard mouse monitor crash error timeout slow broken update install license payment charge "
    "duplicate backup restore database query disk storage quota permission access denied reset "
    "phone mobile app browser cache cookie certificate expired firewall port proxy dns mail spam "
    "attachment calendar meeting share folder file upload download sync cloud drive battery power "
    "cable port usb bluetooth camera audio sound microphone headset driver firmware bios boot "
    "slowdown freeze hang memory cpu fan noise heat overheating report dashboard export import csv "
    "excel pdf scan fax toner paper jam tray queue spooler print"
).split()
RARE = [f"zq{n:04d}" for n in range(3000)]
SLA_HOURS = {"high": 4, "medium": 24, "low": 72}


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(COMMON) if rng.random() < 0.85 else rng.choice(RARE) for _ in range(n))


@dataclass
class People:
    user_id: uuid.UUID
    moderator_id: uuid.UUID
    moderators: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)


COLUMNS = [
    "id",
    "title",
    "description",
    "status",
    "priority",
    "category",
    "created_by_id",
    "created_by_name",
    "created_by_email",
    "assigned_to_id",
    "assigned_to_name",
    "assigned_to_email",
    "due_at",
    "created_at",
    "updated_at",
    "version",
    "triage_state",
    "triage_attempt",
    "triage_applied_attempt",
    "triaged_at",
    "resolved_at",
]


def rows(count: int, people: People, now: datetime, seed: int = 14) -> Iterator[tuple[Any, ...]]:
    """`count` tickets over the last two years, newest ones mostly open, old ones mostly closed."""
    rng = random.Random(seed)
    requesters = [(uuid.UUID(int=rng.getrandbits(128)), f"Requester {i}") for i in range(20_000)]
    span = 730 * 86400
    for i in range(count):
        age = rng.random() * span
        created = now - timedelta(seconds=age)
        recent = age < 30 * 86400
        if i % 5000 == 0:  # ~200 tickets of the bench's user
            creator_id, creator_name = people.user_id, "Bench User"
        else:
            creator_id, creator_name = requesters[rng.randrange(len(requesters))]
        r = rng.random()
        if recent:
            status = "open" if r < 0.40 else "in_progress" if r < 0.65 else "resolved" if r < 0.85 else "closed"
        else:
            status = "closed" if r < 0.90 else "resolved" if r < 0.97 else "open" if r < 0.99 else "in_progress"
        triage_state, priority, category, triaged_at, assignee = "done", None, None, None, None
        if age < 120 and status == "open":
            triage_state = "pending"
        elif recent and status == "open" and rng.random() < 0.03:
            triage_state = "waiting"
        elif rng.random() < 0.002:
            triage_state = "failed"
        if triage_state in ("done", "waiting"):
            p = rng.random()
            priority = "high" if p < 0.2 else "medium" if p < 0.7 else "low"
            category = CATEGORIES[min(int(rng.expovariate(0.35)), len(CATEGORIES) - 1)]
            triaged_at = created + timedelta(seconds=rng.lognormvariate(2.0, 0.8))
            if triage_state == "done":
                assignee = people.moderators[rng.randrange(len(people.moderators))]
        due = created + timedelta(hours=SLA_HOURS[priority]) if priority else None
        resolved = None
        if status in ("resolved", "closed"):
            resolved = created + timedelta(seconds=min(rng.lognormvariate(10.5, 1.2), age))
        yield (
            uuid.UUID(int=rng.getrandbits(128)),
            words(rng, rng.randint(3, 7))[:200],
            words(rng, rng.randint(12, 30)),
            status,
            priority,
            category,
            creator_id,
            creator_name,
            f"{creator_id.hex[:12]}@bench.test",
            assignee[0] if assignee else None,
            assignee[1] if assignee else None,
            assignee[2] if assignee else None,
            due,
            created,
            resolved or triaged_at or created,
            2 if assignee else 1,
            triage_state,
            1,
            1 if triaged_at else 0,
            triaged_at,
            resolved,
        )


def database_dsn(stack: Stack) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + stack.database


async def seed(stack: Stack, people: People, count: int) -> dict[str, float]:
    """COPY the tickets in with the secondary indexes dropped, rebuild them, VACUUM ANALYZE."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(database_dsn(stack))
    try:
        await conn.executemany(
            "INSERT INTO tickets.people (id, name, email, role) VALUES ($1, $2, $3, 'moderator')"
            " ON CONFLICT (id) DO NOTHING",
            people.moderators,
        )
        indexes = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               LEFT JOIN pg_constraint c ON c.conname = i.indexname AND c.connamespace = 'tickets'::regnamespace
               WHERE i.schemaname = 'tickets' AND i.tablename = 'tickets' AND c.oid IS NULL"""
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX tickets."{index["indexname"]}"')
        started = time.monotonic()
        await conn.copy_records_to_table(
            "tickets", schema_name="tickets", columns=COLUMNS, records=rows(count, people, datetime.now(UTC))
        )
        timings["copy"] = time.monotonic() - started

        started = time.monotonic()
        # two connections, two cores: the GIN index alone takes as long as the b-trees together
        definitions = sorted((r["indexdef"] for r in indexes), key=lambda d: "USING gin" not in d)
        halves = [definitions[0::2], definitions[1::2]]

        async def build(defs: list[str]) -> None:
            worker = await asyncpg.connect(database_dsn(stack))
            try:
                await worker.execute("SET maintenance_work_mem = '256MB'")
                for definition in defs:
                    await worker.execute(definition)
            finally:
                await worker.close()

        await asyncio.gather(*(build(half) for half in halves))
        timings["indexes"] = time.monotonic() - started
        started = time.monotonic()
        await conn.execute("VACUUM (ANALYZE) tickets.tickets")
        await conn.execute("ANALYZE tickets.people")
        timings["vacuum"] = time.monotonic() - started
        total = await conn.fetchval("SELECT count(*) FROM tickets.tickets")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('tickets.tickets'))")
        phases = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
        print(f"seeded {total:,} tickets ({size} with indexes): {phases}", flush=True)
    finally:
        await conn.close()
    return timings


# --- the people -------------------------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, stack: Stack) -> tuple[dict[str, str], People]:
    """Tokens of the admin, a moderator and a user, and the seed's moderators (the bench's one first)."""
    email, password = stack.admin
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    tokens = {"admin": r.json()["token"]}
    ids: dict[str, uuid.UUID] = {}
    for role in ("user", "moderator"):
        mail = f"bench-{role}-{uuid.uuid4().hex[:6]}@bench.test"
        secret = "a-long-bench-password-" + uuid.uuid4().hex[:6]
        r = await client.post("/api/auth/signup", json={"email": mail, "password": secret, "name": f"Bench {role}"})
        r.raise_for_status()
        ids[role] = uuid.UUID(r.json()["user"]["id"])
        if role == "moderator":
            # only a verified address may be promoted; the bench marks it so instead of reading its mail
            conn = await asyncpg.connect(database_dsn(stack))
            try:
                await conn.execute("UPDATE auth.users SET email_verified = true WHERE email = $1", mail)
            finally:
                await conn.close()
            r = await client.post(
                "/api/auth/update-user",
                headers=bearer(tokens["admin"]),
                json={"email": mail, "role": "moderator", "skills": ["printers"]},
            )
            r.raise_for_status()
        r = await client.post("/api/auth/login", json={"email": mail, "password": secret})
        r.raise_for_status()
        tokens[role] = r.json()["token"]
    rng = random.Random(41)
    moderators = [(ids["moderator"], "Bench moderator", "bench-moderator@bench.test")] + [
        (uuid.UUID(int=rng.getrandbits(128)), f"Moderator {i}", f"moderator{i}@bench.test") for i in range(40)
    ]
    return tokens, People(user_id=ids["user"], moderator_id=ids["moderator"], moderators=moderators)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the cases --------------------------------------------------------------------------------


@dataclass
class Case:
    route: str
    role: str
    label: str
    params: dict[str, str]
    p50: float = 0.0
    p95: float = 0.0
    rows: int = 0
    indexes: set[str] = field(default_factory=set)
    seq_scan: bool = False
    db_ms: float = 0.0


def cases() -> list[Case]:
    filters: list[tuple[str, dict[str, str]]] = [
        ("newest", {}),
        ("status=open", {"status": "open"}),
        ("status=closed", {"status": "closed"}),
        ("priority=high", {"priority": "high"}),
        ("category=Printing", {"category": "Printing"}),
        ("assigned_to=me", {"assigned_to": "me"}),
        ("overdue", {"overdue": "true"}),
        ("q=printer (common)", {"q": "printer"}),
        ("q=print (prefix)", {"q": "print"}),
        ("q=printer refund", {"q": "printer refund"}),
        ("q=zq0042 (rare)", {"q": "zq0042"}),
        ("q=printer+status=open", {"q": "printer", "status": "open"}),
        ("page 2 (cursor)", {"cursor": "*"}),
    ]
    out = []
    for role in ("admin", "moderator", "user"):
        for label, params in filters:
            if label == "assigned_to=me" and role == "user":
                continue
            out.append(Case("/api/tickets", role, label, dict(params)))
    today = datetime.now(UTC).date()
    year = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}
    for role in ("admin", "moderator"):
        out.append(Case("/api/stats", role, "last 30 days", {}))
        out.append(Case("/api/stats", role, "366 days", year))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


async def measure(client: httpx.AsyncClient, tokens: dict[str, str], case: Case, requests: int) -> None:
    headers = bearer(tokens[case.role])
    if case.params.get("cursor") == "*":
        r = await client.get(case.route, headers=headers)
        r.raise_for_status()
        case.params["cursor"] = r.json()["next_cursor"] or ""
    samples = []
    for i in range(requests + 3):
        started = time.perf_counter()
        r = await client.get(case.route, params=case.params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"{case.route} {case.params} as {case.role}: {r.status_code} {r.text[:300]}")
        if i >= 3:
            samples.append(elapsed)
    body = r.json()
    case.rows = len(body["items"]) if "items" in body else int(body["created"])
    case.p50 = statistics.median(samples)
    case.p95 = percentile(samples, 95)


# --- EXPLAIN of the service's own statements -------------------------------------------------

_INDEX = re.compile(r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)")


async def explain(stack: Stack, people: People, case: Case) -> list[str]:
    """Run the request's service function against the seeded database, EXPLAIN ANALYZE what it sent."""
    from shared.jwt import Principal
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from tickets import service, stats
    from tickets.schemas import StatsQuery, TicketFilters

    engine = create_async_engine(database_dsn(stack).replace("postgresql://", "postgresql+asyncpg://"), pool_size=1)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    person_id = {"admin": uuid.uuid4(), "moderator": people.moderator_id, "user": people.user_id}[case.role]
    principal = Principal(
        id=person_id,
        role=case.role,  # type: ignore[arg-type]
        email="bench@bench.test",
        name="Bench",
        issued_at=datetime.now(UTC),
        token_id="bench",  # noqa: S106
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    plans = []
    try:
        async with sessions() as session, session.begin():
            if case.route == "/api/stats":
                await stats.ticket_stats(
                    session=session, principal=principal, query=StatsQuery.model_validate(case.params)
                )
            else:
                await service.list_tickets(
                    session=session, principal=principal, filters=TicketFilters.model_validate(case.params)
                )
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        async with engine.connect() as conn:
            for statement, parameters in captured:
                result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plans.append("\n".join(row[0] for row in result))
    finally:
        await engine.dispose()
    for plan in plans:
        case.indexes.update(name for name in _INDEX.findall(plan) if name.startswith(("ix_", "pk_", "uq_")))
        case.seq_scan |= bool(re.search(r"Seq Scan on tickets\b", plan))
        found = re.search(r"Execution Time: ([\d.]+) ms", plan)
        case.db_ms += float(found.group(1)) if found else 0.0
    return plans


def table(all_cases: list[Case]) -> str:
    head = "| route | role | filter | p50 ms | p95 ms | rows | DB ms (EXPLAIN ANALYZE) | indexes used | seq scan |"
    lines = [head, "|---|---|---|---:|---:|---:|---:|---|---|"]
    for c in all_cases:
        lines.append(
            f"| {c.route} | {c.role} | {c.label} | {c.p50:.1f} | {c.p95:.1f} | {c.rows} | {c.db_ms:.1f} | "
            f"{', '.join(sorted(c.indexes)) or '—'} | {'YES' if c.seq_scan else 'no'} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace, stack: Stack) -> int:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        tokens, people = await sign_in(client, stack)
        await seed(stack, people, args.tickets)
        all_cases = cases()
        started = time.monotonic()
        for case in all_cases:
            await measure(client, tokens, case, args.requests)
        print(f"measured {len(all_cases)} cases in {time.monotonic() - started:.0f}s", flush=True)
    plans_out = []
    for case in all_cases:
        for plan in await explain(stack, people, case):
            plans_out.append(f"## {case.route} {case.role} {case.label}\n{plan}\n")
    out = ROOT / "var" / "bench-million-plans.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(plans_out))
    print()
    print(table(all_cases))
    lists = [c for c in all_cases if c.route == "/api/tickets"]
    stats = [c for c in all_cases if c.route == "/api/stats"]
    print(
        f"\nlists and search: worst p95 {max(c.p95 for c in lists):.1f} ms (aim < 50);"
        f" stats: worst p95 {max(c.p95 for c in stats):.1f} ms (aim < 100)."
        f" Plans in {out.relative_to(ROOT)}."
    )
    return 0


def free_stack() -> Stack:
    """An instance on ports nobody listens on (away from the test stacks' usual offsets)."""
    import socket

    def free(port: int) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) != 0

    for offset in range(6100, 9000, 100):
        if all(free(port + offset) for port in (8000, 8101, 8102, 8103, 8104, 8105, 1025, 2525)):
            return Stack(f"million_{os.getpid()}", offset)
    raise RuntimeError("no free port range for the bench's stack")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case")
    parser.add_argument("--keep", action="store_true", help="leave the instance running (purge it yourself)")
    args = parser.parse_args()
    with open(LOCK, "a") as lock:  # noqa: PTH123
        print(f"waiting for {LOCK} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        stack = free_stack()
        started = time.monotonic()
        try:
            stack.up()
            print(f"stack {stack.instance} up at {stack.base_url}", flush=True)
            return asyncio.run(run(args, stack))
        finally:
            if not args.keep:
                with contextlib.suppress(Exception):
                    stack.purge()
            print(
                f"total {time.monotonic() - started:.0f}s"
                + ("" if args.keep else f"; instance {stack.instance} purged"),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
