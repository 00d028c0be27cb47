"""Tickets throughput through the gateway beside a bare one-insert endpoint, and list p95 at 100k.

    uv run python bench/tickets_bench.py [--concurrency 32] [--seconds 6] [--rounds 3] [--rows 100000]

Everything runs on this machine against the local Postgres and RabbitMQ, in a fresh database
and vhost (both removed at the end), with generated keys:
- processes (uvicorn, one worker each): the tickets service, the gateway in front of it, and a
  bare FastAPI app whose POST does one asyncpg INSERT (autocommit) into a plain table; the
  tickets service and the bare app get a database pool as large as the concurrency;
- create: `--concurrency` clients POST for `--seconds`, alternating bare and gateway legs for
  `--rounds` rounds so both see the same machine; the figure is the median of the rounds and
  the ratio gateway/bare (aim >= 0.5); a third leg posts to the tickets service directly (no
  gateway) to show where the time goes. Tickets come from many users (the quota stays on);
- list: GET /api/tickets through the gateway under the same concurrency (requests/s, p50, p95);
- 100k: `--rows` tickets are bulk-inserted (INSERT ... SELECT generate_series), then one client
  measures GET /api/tickets p95 through the gateway for typical queries (aim < 50 ms), then
  the same queries through the service's repository alone (the database's share).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
INI = ROOT / "services" / "tickets" / "alembic.ini"
ADMIN_DSN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT = ("127.0.0.1", 5672)

# --- the bare endpoint: one asyncpg insert per request ---------------------------------------


class BareBody(BaseModel):
    title: str
    description: str


def bare_app() -> FastAPI:
    """A minimal FastAPI app: POST /bare inserts one row (uvicorn --factory tickets_bench:bare_app)."""
    import asyncpg

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            os.environ["BARE_DSN"], min_size=4, max_size=int(os.environ.get("BARE_POOL", "16"))
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/bare", status_code=201)
    async def bare(body: BareBody) -> dict[str, str]:
        """Insert one row."""
        row_id = uuid.uuid4()
        await app.state.pool.execute(
            "INSERT INTO tickets.bare_tickets (id, title, description) VALUES ($1, $2, $3)",
            row_id,
            body.title,
            body.description,
        )
        return {"id": str(row_id)}

    return app


# --- processes -------------------------------------------------------------------------------


def rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    name: str, app: str, port: int, env: dict[str, str], logs: Path, app_dir: str | None = None
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if app_dir:
        cmd += ["--app-dir", app_dir]
    out = (logs / f"{name}.log").open("wb")
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
    )


async def wait_ready(url: str, timeout: float = 30) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- load --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def drive(
    concurrency: int, seconds: float, request: Callable[[int], Awaitable[int]], expect: int
) -> tuple[float, list[float], int]:
    """Run `request(i)` from `concurrency` clients for `seconds`; (ok/s, latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            t0 = time.perf_counter()
            try:
                status = await request(counter)
            except Exception:  # noqa: BLE001 - counted, the run goes on
                status = -1
            if status == expect:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    import asyncpg
    from shared.db import asyncpg_dsn
    from shared.jwt import TokenIssuer, generate_keypair
    from shared.migrations import upgrade

    from shared import dbsetup

    database = f"hd_bench_{uuid.uuid4().hex[:8]}"
    vhost = f"hd_bench_{uuid.uuid4().hex[:8]}"
    logs = ROOT / "var" / "bench" / f"tickets-{uuid.uuid4().hex[:6]}"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {}
    await dbsetup.setup(admin_dsn=ADMIN_DSN, database=database)
    await asyncio.to_thread(rabbitmqctl, "add_vhost", vhost)
    await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        tickets_url_db = dbsetup.service_database_url("tickets", database=database)
        await upgrade(INI, tickets_url_db)
        admin = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}")
        await admin.execute(
            "CREATE TABLE tickets.bare_tickets (id uuid PRIMARY KEY, title text NOT NULL, description text NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now());"
            " ALTER TABLE tickets.bare_tickets OWNER TO helpdesk_tickets"
        )
        private_pem, public_pem = generate_keypair()
        issuer = TokenIssuer(
            private_key_pem=private_pem,
            issuer="helpdesk-auth",
            audience="helpdesk",
            ttl=__import__("datetime").timedelta(hours=2),
        )
        common = {
            "ENVIRONMENT": "dev",
            "JWT_PUBLIC_KEY": public_pem,
            "RABBITMQ_URL": f"amqp://guest:guest@{RABBIT[0]}:{RABBIT[1]}/{vhost}",
            "LOG_LEVEL": args.log_level,
            # every request's access line, written as production writes it (dev's console
            # layout costs three times as much per line)
            "LOG_JSON": "true",
        }
        t_port, g_port, b_port = free_port(), free_port(), free_port()
        procs.append(
            start("tickets", "tickets.app:create_app", t_port, {**common, "TICKETS_DATABASE_URL": tickets_url_db}, logs)
        )
        procs.append(
            start(
                "gateway",
                "gateway.app:create_app",
                g_port,
                {
                    **common,
                    "GATEWAY_TICKETS_URL": f"http://127.0.0.1:{t_port}",
                    "GATEWAY_AUTH_URL": f"http://127.0.0.1:{free_port()}",
                    "GATEWAY_READY_UPSTREAMS": "tickets",
                },
                logs,
            )
        )
        procs.append(
            start(
                "bare",
                "tickets_bench:bare_app",
                b_port,
                {"BARE_DSN": asyncpg_dsn(tickets_url_db), "BARE_POOL": str(args.concurrency)},
                logs,
                app_dir=str(ROOT / "bench"),
            )
        )
        base_gw = ""
        if args.compare_with:
            # the same two processes from another checkout's sources (PYTHONPATH comes before
            # the venv's editable installs), driven in turns with ours: before/after in one run
            tree = Path(args.compare_with)  # made absolute in main()
            path = os.pathsep.join(str(tree / d) for d in ("shared", "gateway", "services/tickets"))
            bt_port, bg_port = free_port(), free_port()
            base_env = {**common, "PYTHONPATH": path, "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", "10")}
            procs.append(
                start(
                    "tickets-base",
                    "tickets.app:create_app",
                    bt_port,
                    {**base_env, "TICKETS_DATABASE_URL": tickets_url_db},
                    logs,
                )
            )
            procs.append(
                start(
                    "gateway-base",
                    "gateway.app:create_app",
                    bg_port,
                    {
                        **base_env,
                        "GATEWAY_TICKETS_URL": f"http://127.0.0.1:{bt_port}",
                        "GATEWAY_AUTH_URL": f"http://127.0.0.1:{free_port()}",
                        "GATEWAY_READY_UPSTREAMS": "tickets",
                    },
                    logs,
                )
            )
            await wait_ready(f"http://127.0.0.1:{bt_port}/readyz")
            await wait_ready(f"http://127.0.0.1:{bg_port}/healthz")
            base_gw = f"http://127.0.0.1:{bg_port}"
        await wait_ready(f"http://127.0.0.1:{t_port}/readyz")
        await wait_ready(f"http://127.0.0.1:{g_port}/healthz")
        await wait_ready(f"http://127.0.0.1:{b_port}/docs")

        users = [uuid.uuid4() for _ in range(args.users)]
        tokens = [issuer.issue(user_id=u, role="user", email=f"{u.hex[:8]}@bench.test", name="Bench") for u in users]
        admin_id = uuid.uuid4()
        admin_token = issuer.issue(user_id=admin_id, role="admin", email="admin@bench.test", name="Admin")
        body = {
            "title": "Cannot log in to the VPN",
            "description": "Since this morning the client says the token expired.",
        }
        gw, bare = f"http://127.0.0.1:{g_port}", f"http://127.0.0.1:{b_port}"
        direct = f"http://127.0.0.1:{t_port}"
        connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def post_bare(i: int) -> int:
                async with http.post(f"{bare}/bare", json=body) as r:
                    await r.read()
                    return r.status

            async def post_gateway(i: int) -> int:
                headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
                async with http.post(f"{gw}/api/tickets", json=body, headers=headers) as r:
                    await r.read()
                    return r.status

            async def post_base_gateway(i: int) -> int:
                headers = {"Authorization": f"Bearer {tokens[(i + len(tokens) // 3) % len(tokens)]}"}
                async with http.post(f"{base_gw}/api/tickets", json=body, headers=headers) as r:
                    await r.read()
                    return r.status

            async def post_direct(i: int) -> int:
                headers = {"Authorization": f"Bearer {tokens[(i + len(tokens) // 2) % len(tokens)]}"}
                async with http.post(f"{direct}/api/tickets", json=body, headers=headers) as r:
                    await r.read()
                    return r.status

            async def list_gateway(i: int) -> int:
                token = admin_token if i % 2 else tokens[i % len(tokens)]
                async with http.get(f"{gw}/api/tickets", headers={"Authorization": f"Bearer {token}"}) as r:
                    await r.read()
                    return r.status

            # warm up both paths (connections, caches, JIT-free but lazy imports)
            await drive(8, 1.0, post_bare, 201)
            await drive(8, 1.0, post_gateway, 201)
            rounds: list[tuple[float, float]] = []
            directs: list[float] = []
            base_rounds: list[float] = []
            if base_gw:
                await drive(8, 1.0, post_base_gateway, 201)
            for n in range(args.rounds):
                b_rate, b_lat, b_err = await drive(args.concurrency, args.seconds, post_bare, 201)
                g_rate, g_lat, g_err = await drive(args.concurrency, args.seconds, post_gateway, 201)
                d_rate, d_lat, d_err = await drive(args.concurrency, args.seconds, post_direct, 201)
                rounds.append((b_rate, g_rate))
                directs.append(d_rate)
                if base_gw:
                    o_rate, o_lat, o_err = await drive(args.concurrency, args.seconds, post_base_gateway, 201)
                    base_rounds.append(o_rate)
                    print(
                        f"  round {n + 1}: gateway of {args.compare_with} {o_rate:6.0f}/s"
                        f" (p95 {pct(o_lat, 0.95):6.1f} ms, {o_err} err)  ratio {o_rate / max(b_rate, 1e-9):.2f}",
                        flush=True,
                    )
                print(
                    f"  round {n + 1}: bare {b_rate:6.0f}/s (p95 {pct(b_lat, 0.95):6.1f} ms, {b_err} err)"
                    f"  gateway {g_rate:6.0f}/s (p95 {pct(g_lat, 0.95):6.1f} ms, {g_err} err)"
                    f"  tickets direct {d_rate:6.0f}/s (p95 {pct(d_lat, 0.95):6.1f} ms, {d_err} err)"
                    f"  ratio {g_rate / max(b_rate, 1e-9):.2f}",
                    flush=True,
                )
            b_med = statistics.median(r[0] for r in rounds)
            g_med = statistics.median(r[1] for r in rounds)
            ratios = [g / max(b, 1e-9) for b, g in rounds]
            results["create"] = {
                "bare_per_s": round(b_med),
                "gateway_per_s": round(g_med),
                "ratio_median": round(statistics.median(ratios), 2),
                "tickets_direct_per_s": round(statistics.median(directs)),
            }
            if base_rounds:
                results["create"]["compared_gateway_per_s"] = round(statistics.median(base_rounds))
                results["create"]["compared_ratio_median"] = round(
                    statistics.median(o / max(b, 1e-9) for o, (b, _) in zip(base_rounds, rounds, strict=True)), 2
                )
            if args.profile:
                results["profile"] = await profile_leg(
                    args, logs, {"gateway": procs[1], "tickets": procs[0]}, post_gateway
                )
                if base_gw:
                    results["profile_compared"] = await profile_leg(
                        args, logs, {"gateway-base": procs[4], "tickets-base": procs[3]}, post_base_gateway
                    )
            if args.create_only:
                await admin.close()
                return results
            l_rate, l_lat, l_err = await drive(args.concurrency, args.seconds, list_gateway, 200)
            results["list_under_load"] = {
                "per_s": round(l_rate),
                "p50_ms": round(pct(l_lat, 0.5), 1),
                "p95_ms": round(pct(l_lat, 0.95), 1),
                "errors": l_err,
            }
            print(
                f"  list under load: {l_rate:.0f}/s p50 {pct(l_lat, 0.5):.1f} ms p95 {pct(l_lat, 0.95):.1f} ms",
                flush=True,
            )

            # --- 100k rows ------------------------------------------------------------------
            existing = await admin.fetchval("SELECT count(*) FROM tickets.tickets")
            mods = [uuid.uuid4() for _ in range(20)]
            started = time.perf_counter()
            await admin.execute(
                """
                INSERT INTO tickets.tickets (id, title, description, status, priority, category,
                    created_by_id, created_by_name, created_by_email, assigned_to_id, assigned_to_name,
                    assigned_to_email, due_at, created_at, updated_at, version, triage_state,
                    triage_attempt, triage_applied_attempt)
                SELECT gen_random_uuid(),
                       'Ticket ' || g || ' ' || (ARRAY['printer','vpn','invoice','laptop','email'])[1 + g % 5],
                       'Generated description number ' || g || ' about '
                           || (ARRAY['billing','network','hardware','accounts'])[1 + g % 4],
                       (ARRAY['open','in_progress','resolved','closed'])[1 + g % 4],
                       (ARRAY['low','medium','high'])[1 + g % 3],
                       (ARRAY['Billing','Network','Hardware','Accounts','General'])[1 + g % 5],
                       ($2::uuid[])[1 + g % array_length($2::uuid[], 1)], 'Bench', 'user@bench.test',
                       ($3::uuid[])[1 + g % 20], 'Moderator', 'mod@bench.test',
                       now() - (g * interval '30 seconds') + interval '24 hours',
                       now() - (g * interval '30 seconds'), now(), 2, 'done', 1, 1
                FROM generate_series(1, $1) g
                """,
                args.rows,
                users[: min(len(users), 1000)],
                mods,
            )
            await admin.execute("ANALYZE tickets.tickets")
            total = await admin.fetchval("SELECT count(*) FROM tickets.tickets")
            print(
                f"  inserted {total - existing} rows in {time.perf_counter() - started:.1f} s ({total} in the table)",
                flush=True,
            )
            mod_token = issuer.issue(user_id=mods[0], role="moderator", email="mod@bench.test", name="Moderator")
            cases = {
                "admin, newest 50": (admin_token, ""),
                "admin, page 2 (cursor)": (admin_token, "cursor"),
                "user, own tickets": (tokens[0], ""),
                "moderator, own + assigned": (mod_token, ""),
                "admin, status=open": (admin_token, "status=open"),
                "admin, priority=high&category=Network": (admin_token, "priority=high&category=Network"),
                "admin, overdue=true": (admin_token, "overdue=true"),
                "moderator, assigned_to=me": (mod_token, "assigned_to=me"),
                "admin, q=vpn": (admin_token, "q=vpn"),
            }
            p95s: dict[str, float] = {}
            for label, (token, query) in cases.items():
                headers = {"Authorization": f"Bearer {token}"}
                if query == "cursor":
                    async with http.get(f"{gw}/api/tickets", headers=headers) as r:
                        query = f"cursor={(await r.json())['next_cursor']}"
                latencies = []
                for i in range(args.samples + 5):
                    t0 = time.perf_counter()
                    async with http.get(f"{gw}/api/tickets?{query}", headers=headers) as r:
                        payload = await r.read()
                        assert r.status == 200, payload[:300]
                    if i >= 5:
                        latencies.append((time.perf_counter() - t0) * 1000)
                p95s[label] = round(pct(latencies, 0.95), 1)
                print(
                    f"  {label:40s} p50 {pct(latencies, 0.5):5.1f} ms  p95 {pct(latencies, 0.95):5.1f} ms", flush=True
                )
            results["list_p95_at_rows"] = {"rows": total, "p95_ms": p95s, "worst_p95_ms": max(p95s.values())}
            results["list_sql_p95_at_rows"] = await sql_only(tickets_url_db, admin_id, users[0], mods[0], args.samples)
        await admin.close()
    finally:
        for proc in procs:
            stop(proc)
        with contextlib.suppress(Exception):
            await dbsetup.drop_database(admin_dsn=ADMIN_DSN, database=database)
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", vhost, check=False)
    return results


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def profile_leg(
    args: argparse.Namespace,
    logs: Path,
    procs: dict[str, subprocess.Popen[bytes]],
    request: Callable[[int], Awaitable[int]],
) -> dict[str, Any]:
    """One more gateway leg with py-spy sampling each process: CPU per request, split into parts."""
    from profile_breakdown import breakdown, table

    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or str(Path.home() / ".local" / "bin" / "py-spy")
    recorders = {
        name: subprocess.Popen(  # noqa: S603, ASYNC220 - our own command line, started before the leg
            [
                spy,
                "record",
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
                "250",
                "--duration",
                str(int(args.seconds) + 1),
                "--pid",
                str(proc.pid),
                "--output",
                str(logs / f"{name}.spy"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, proc in procs.items()
    }
    await asyncio.sleep(0.5)
    before = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}
    rate, _, errors = await drive(args.concurrency, args.seconds, request, 201)
    cpu = {name: cpu_seconds(proc.pid) - before[name] for name, proc in procs.items()}
    for recorder in recorders.values():
        await asyncio.to_thread(recorder.wait, 30)
    served = round(rate * args.seconds)
    out: dict[str, Any] = {"per_s": round(rate), "errors": errors}
    print(f"  profile leg (gateway, py-spy on each process): {rate:.0f}/s", flush=True)
    for name in procs:
        parts = breakdown(logs / f"{name}.spy")
        print(table(name, parts, cpu[name], served), flush=True)
        out[name] = {"cpu_us_per_request": round(cpu[name] / max(served, 1) * 1e6), "samples": dict(parts)}
    return out


async def sql_only(
    url: str, admin_id: uuid.UUID, user_id: uuid.UUID, mod_id: uuid.UUID, samples: int
) -> dict[str, float]:
    """The same list queries through the service's repository alone: what the database costs."""
    from datetime import UTC, datetime

    from shared.db import create_engine, create_sessionmaker
    from tickets.repository import TicketQuery, list_tickets

    engine = create_engine(url, pool_size=2)
    sessions = create_sessionmaker(engine)
    cases = {
        "admin, newest 50": TicketQuery(viewer_id=admin_id, viewer_role="admin"),
        "user, own tickets": TicketQuery(viewer_id=user_id, viewer_role="user"),
        "moderator, own + assigned": TicketQuery(viewer_id=mod_id, viewer_role="moderator"),
        "moderator, assigned_to=me": TicketQuery(viewer_id=mod_id, viewer_role="moderator", assigned_to=mod_id),
        "admin, overdue=true": TicketQuery(viewer_id=admin_id, viewer_role="admin", overdue=True),
        "admin, q=vpn": TicketQuery(viewer_id=admin_id, viewer_role="admin", q="vpn"),
    }
    out: dict[str, float] = {}
    for label, query in cases.items():
        latencies = []
        for i in range(samples + 5):
            async with sessions() as session:
                t0 = time.perf_counter()
                await list_tickets(session, query, now=datetime.now(UTC))
                if i >= 5:
                    latencies.append((time.perf_counter() - t0) * 1000)
        out[label] = round(pct(latencies, 0.95), 2)
        print(
            f"  SQL only: {label:32s} p50 {pct(latencies, 0.5):5.2f} ms  p95 {pct(latencies, 0.95):5.2f} ms", flush=True
        )
    await engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=100, help="requests per 100k list case")
    # requesters the creates rotate over: each may create TICKETS_CREATE_QUOTA (20) an hour, and
    # the fast legs make ~800 a second through three rounds and the profile leg
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the services")
    parser.add_argument("--profile", action="store_true", help="an extra gateway leg under py-spy: CPU per part")
    parser.add_argument("--create-only", action="store_true", help="skip the list and 100k-row parts")
    parser.add_argument(
        "--compare-with",
        default="",
        help="another checkout (git worktree or archive): its"
        " tickets and gateway get a create leg too, in turns with ours",
    )
    args = parser.parse_args()
    print(f"tickets bench: concurrency {args.concurrency}, {args.rounds} x {args.seconds:.0f} s per leg", flush=True)
    if args.compare_with:
        args.compare_with = str(Path(args.compare_with).resolve())
    results = asyncio.run(bench(args))
    c = results["create"]
    print("\nresults")
    print(
        f"  create: gateway {c['gateway_per_s']}/s vs bare insert {c['bare_per_s']}/s -> ratio {c['ratio_median']}"
        f" (aim >= 0.5); tickets without the gateway {c['tickets_direct_per_s']}/s"
    )
    if "compared_gateway_per_s" in c:
        print(f"  {args.compare_with}: gateway {c['compared_gateway_per_s']}/s -> ratio {c['compared_ratio_median']}")
    if args.create_only:
        return
    lst = results["list_p95_at_rows"]
    print(f"  list under load: {results['list_under_load']}")
    print(
        f"  list p95 at {lst['rows']} rows: worst {lst['worst_p95_ms']} ms through the gateway (aim < 50 ms);"
        f" SQL alone worst {max(results['list_sql_p95_at_rows'].values())} ms"
    )
    import json

    print(json.dumps(results))


if __name__ == "__main__":
    main()
