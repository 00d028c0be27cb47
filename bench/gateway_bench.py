"""The gateway hop: auth routes through the gateway beside the same routes straight at auth.

    uv run python bench/gateway_bench.py [--concurrency 32] [--me 3000] [--login 300] [--rounds 3]
    uv run python bench/gateway_bench.py --hop      # httpx vs aiohttp for the hop itself

Everything runs on this machine against the local Postgres and RabbitMQ, in a fresh database
and vhost (both removed at the end), with generated Ed25519 keys:
- processes (uvicorn, one worker each, access logs off, LOG_LEVEL=WARNING): the real auth
  service, and the gateway in front of it;
- `--login` POST /api/auth/login and `--me` GET /api/auth/me requests with `--concurrency`
  clients (aiohttp), direct and through the gateway, alternating legs for `--rounds` rounds so
  both see the same machine; the figures are the medians of the rounds, and the ratio
  gateway/direct of the throughputs;
- each process's peak RSS (VmHWM) at the end (aim < 150 MB);
- `--hop`: GET /api/auth/me on a database-free stub of auth, driven straight at it by an httpx
  and an aiohttp client (each in its own process; the gateway's client library was chosen by
  this), and through the gateway: the gateway's own cost without auth's database work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AUTH_INI = ROOT / "services" / "auth" / "alembic.ini"
ADMIN_DSN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1")
RABBIT_PORT = int(os.environ.get("TEST_RABBITMQ_PORT", "5672"))
PASSWORD = "bench-password-" + uuid.uuid4().hex[:8]
FAILED_STATUSES: dict[int, int] = {}  # status -> count, over the whole run


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
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
    return subprocess.Popen(  # noqa: S603 - our own command line
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited:\n{log.read_text()[-3000:]}")  # noqa: ASYNC240 - a benchmark may block here
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")  # noqa: ASYNC240 - a benchmark may block here


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


# --- load ------------------------------------------------------------------------------------


@dataclass
class Leg:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


async def drive(count: int, concurrency: int, call: Callable[[int], Awaitable[bool]]) -> Leg:
    """`count` calls with `concurrency` in flight; latency of each, throughput of the whole."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker() -> None:
        nonlocal errors, next_index
        while next_index < count:
            i = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                ok = await call(i)
            except Exception as exc:  # noqa: BLE001 - a failed request is an error in the table
                ok = False
                if errors < 3:
                    print(f"    request failed: {type(exc).__name__}: {exc}", flush=True)
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Leg(count / elapsed, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000, errors)


def median_leg(legs: list[Leg]) -> Leg:
    return Leg(
        statistics.median(leg.rps for leg in legs),
        statistics.median(leg.p50_ms for leg in legs),
        statistics.median(leg.p99_ms for leg in legs),
        sum(leg.errors for leg in legs),
    )


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    import aiohttp
    from shared.jwt import generate_keypair
    from shared.migrations import upgrade

    from shared import dbsetup

    work = ROOT / "var" / "bench" / f"gateway-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True, exist_ok=True)
    name = f"hd_bench_{uuid.uuid4().hex[:8]}"
    vhost = name
    procs: dict[str, subprocess.Popen[bytes]] = {}
    rss: dict[str, float] = {}
    print(f"database and vhost {name}; logs in {work.relative_to(ROOT)}", flush=True)
    await dbsetup.setup(admin_dsn=ADMIN_DSN, database=name)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        auth_db = dbsetup.service_database_url("auth", database=name)
        await upgrade(str(AUTH_INI), auth_db)
        private_pem, public_pem = generate_keypair()
        common = {
            "ENVIRONMENT": "dev",
            "RABBITMQ_URL": f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}",
            "JWT_PUBLIC_KEY": public_pem,
            "LOG_LEVEL": "WARNING",
        }
        auth_port, gateway_port = free_port(), free_port()
        auth_url, gateway_url = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{gateway_port}"
        procs["auth"] = start(
            "auth.app:create_app",
            auth_port,
            {
                **common,
                "AUTH_DATABASE_URL": auth_db,
                "JWT_PRIVATE_KEY": private_pem,
                "DB_POOL_SIZE": "8",
                "AUTH_SIGNUP_ADDRESS_LIMIT": "0",
            },  # every bench user signs up from 127.0.0.1
            work / "auth.log",
        )
        procs["gateway"] = start(
            "gateway.app:create_app",
            gateway_port,
            {**common, "GATEWAY_AUTH_URL": auth_url, "GATEWAY_READY_UPSTREAMS": "auth"},
            work / "gateway.log",
        )
        await wait_ready(auth_url, procs["auth"], work / "auth.log")
        await wait_ready(gateway_url, procs["gateway"], work / "gateway.log")

        connector = aiohttp.TCPConnector(limit=args.concurrency * 2, keepalive_timeout=3)
        async with aiohttp.ClientSession(connector=connector) as session:
            users = await make_users(session, auth_url, args.users)
            tokens = [token for _, token in users]

            async def login(base: str) -> Callable[[int], Awaitable[bool]]:
                async def call(i: int) -> bool:
                    email = users[i % len(users)][0]
                    async with session.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}) as r:
                        await r.read()
                        if r.status != 200:
                            FAILED_STATUSES[r.status] = FAILED_STATUSES.get(r.status, 0) + 1
                        return r.status == 200

                return call

            async def me(base: str) -> Callable[[int], Awaitable[bool]]:
                async def call(i: int) -> bool:
                    headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
                    async with session.get(f"{base}/api/auth/me", headers=headers) as r:
                        await r.read()
                        if r.status != 200:
                            FAILED_STATUSES[r.status] = FAILED_STATUSES.get(r.status, 0) + 1
                        return r.status == 200

                return call

            results: dict[tuple[str, str], Leg] = {}
            for label, make, count in (
                ("POST /api/auth/login", login, args.login),
                ("GET /api/auth/me", me, args.me),
            ):
                legs: dict[str, list[Leg]] = {"direct": [], "gateway": []}
                # warm both paths (connections, caches) before measuring
                await drive(min(count, 100), args.concurrency, await make(auth_url))
                await drive(min(count, 100), args.concurrency, await make(gateway_url))
                for _ in range(args.rounds):
                    for leg, base in (("direct", auth_url), ("gateway", gateway_url)):
                        legs[leg].append(await drive(count, args.concurrency, await make(base)))
                for leg in legs:
                    results[(label, leg)] = median_leg(legs[leg])
                print(f"  {label}: done", flush=True)
        for proc_name, proc in procs.items():
            rss[proc_name] = peak_rss_mb(proc.pid)
        print_table(results, rss, args)
    finally:
        for proc in procs.values():
            stop(proc)
        with contextlib.suppress(Exception):
            await dbsetup.drop_database(admin_dsn=ADMIN_DSN, database=name)
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", vhost)


async def make_users(session: Any, auth_url: str, count: int) -> list[tuple[str, str]]:
    users: list[tuple[str, str]] = []
    sem = asyncio.Semaphore(4)

    async def one(i: int) -> None:
        email = f"bench-{i}-{uuid.uuid4().hex[:6]}@bench.test"
        async with (
            sem,
            session.post(
                f"{auth_url}/api/auth/signup", json={"email": email, "password": PASSWORD, "name": f"Bench {i}"}
            ) as r,
        ):
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"signup failed: {r.status} {body}")
            users.append((email, body["token"]))

    await asyncio.gather(*(one(i) for i in range(count)))
    return users


def print_table(results: dict[tuple[str, str], Leg], rss: dict[str, float], args: argparse.Namespace) -> None:
    print()
    print(
        f"gateway bench: concurrency {args.concurrency}, median of {args.rounds} rounds "
        f"(login x{args.login}, me x{args.me} per round), {os.cpu_count()} cores"
    )
    header = f"{'route':<22} {'path':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for (label, leg), r in results.items():
        print(f"{label:<22} {leg:<8} {r.rps:>8.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>7}")
    print()
    for label in dict.fromkeys(label for label, _ in results):
        direct, gateway = results[(label, "direct")], results[(label, "gateway")]
        print(
            f"{label:<22} gateway/direct throughput {gateway.rps / direct.rps:.2f}, "
            f"p50 +{gateway.p50_ms - direct.p50_ms:.1f} ms"
        )
    print()
    if FAILED_STATUSES:
        print(f"non-200 answers (status: count): {FAILED_STATUSES} - see the logs; the figures are suspect")
    for name, mb in rss.items():
        flag = "ok" if mb < 150 else "OVER 150 MB"
        print(f"peak RSS {name:<8} {mb:6.1f} MB  {flag}")


# --- the hop: httpx vs aiohttp, and the gateway's own cost --------------------------------------


def stub_app() -> Any:
    """A service stand-in without a database: what is left is the HTTP hop itself."""
    from fastapi import FastAPI

    app = FastAPI()
    me = {
        "id": str(uuid.UUID(int=1)),
        "email": "bench@bench.test",
        "name": "Bench",
        "role": "user",
        "skills": [],
        "created_at": "2026-01-01T00:00:00Z",
    }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/internal/revocations")
    async def revocations() -> dict[str, list[Any]]:
        return {"items": []}

    @app.get("/api/auth/me")
    async def get_me() -> dict[str, Any]:
        return me

    return app


HOP_CLIENT = r"""
import asyncio, sys, time
url, count, concurrency, library, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
headers = {"Authorization": "Bearer " + token}

async def drive(fetch):
    latencies, next_index = [], 0
    async def worker():
        nonlocal next_index
        while next_index < count:
            next_index += 1
            t = time.perf_counter(); await fetch(); latencies.append(time.perf_counter() - t)
    for _ in range(100):
        await fetch()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(count / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000)

async def main():
    if library == "aiohttp":
        import aiohttp
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            async def fetch():
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
            await drive(fetch)
    else:
        import httpx
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits) as s:
            async def fetch():
                r = await s.get(url, headers=headers)
                assert r.status_code == 200, r.status_code
            await drive(fetch)

asyncio.run(main())
"""


def hop_leg(url: str, library: str, token: str, args: argparse.Namespace) -> Leg:
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", HOP_CLIENT, url, str(args.me), str(args.concurrency), library, token],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    rps, p50, p99 = (float(x) for x in out.stdout.split())
    return Leg(rps, p50, p99, 0)


async def hop(args: argparse.Namespace) -> None:
    """Against a database-free stub of auth: an httpx and an aiohttp client straight at it (each
    in its own process), and aiohttp through the gateway (which uses aiohttp for its hop)."""
    import importlib.util

    from helpdesk_testing.plugin import JwtKeys
    from shared.jwt import generate_keypair

    work = ROOT / "var" / "bench" / f"hop-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True, exist_ok=True)
    vhost = f"hd_bench_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        private_pem, public_pem = generate_keypair()
        token = JwtKeys(private_pem, public_pem).token()
        stub_port, gateway_port = free_port(), free_port()
        stub_url, gateway_url = f"http://127.0.0.1:{stub_port}", f"http://127.0.0.1:{gateway_port}"
        env = {"PYTHONPATH": str(ROOT / "bench"), "LOG_LEVEL": "WARNING"}
        procs["stub"] = start("gateway_bench:stub_app", stub_port, env, work / "stub.log")
        procs["gateway"] = start(
            "gateway.app:create_app",
            gateway_port,
            {
                **env,
                "JWT_PUBLIC_KEY": public_pem,
                "RABBITMQ_URL": f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}",
                "GATEWAY_AUTH_URL": stub_url,
                "GATEWAY_READY_UPSTREAMS": "auth",
            },
            work / "gateway.log",
        )
        await wait_ready_health(stub_url, procs["stub"], work / "stub.log")
        await wait_ready(gateway_url, procs["gateway"], work / "gateway.log")
        legs: dict[str, list[Leg]] = {"aiohttp -> stub": [], "httpx -> stub": [], "aiohttp -> gateway -> stub": []}
        for _ in range(args.rounds):
            legs["aiohttp -> stub"].append(hop_leg(f"{stub_url}/api/auth/me", "aiohttp", token, args))
            legs["httpx -> stub"].append(hop_leg(f"{stub_url}/api/auth/me", "httpx", token, args))
            legs["aiohttp -> gateway -> stub"].append(hop_leg(f"{gateway_url}/api/auth/me", "aiohttp", token, args))
        sniffio = importlib.util.find_spec("sniffio") is not None
        print()
        print(
            f"hop: GET /api/auth/me on a database-free stub, concurrency {args.concurrency}, "
            f"x{args.me}, median of {args.rounds} rounds (sniffio installed: {sniffio})"
        )
        header = f"{'client -> target':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        print(header)
        print("-" * len(header))
        for name, runs in legs.items():
            r = median_leg(runs)
            print(f"{name:<28} {r.rps:>8.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f}")
        print(f"peak RSS gateway {peak_rss_mb(procs['gateway'].pid):.1f} MB")
    finally:
        for proc in procs.values():
            stop(proc)
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", vhost)


async def wait_ready_health(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited:\n{log.read_text()[-3000:]}")  # noqa: ASYNC240
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not alive after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--me", type=int, default=3000, help="GET /api/auth/me requests per leg")
    parser.add_argument("--login", type=int, default=300, help="POST /api/auth/login requests per leg")
    parser.add_argument("--users", type=int, default=32, help="accounts the logins rotate over")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hop", action="store_true", help="compare httpx and aiohttp for the hop")
    args = parser.parse_args()
    # `timeout` and Ctrl-C: unwind through the finally blocks that stop the processes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(hop(args) if args.hop else run(args))


if __name__ == "__main__":
    main()
