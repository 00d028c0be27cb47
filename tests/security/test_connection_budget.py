"""The connection budget: an idle stack holds at most 20 Postgres connections, and
`scripts/stack.py status` (`make status`) prints how many it holds."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import asyncpg
from helpdesk_testing.stack import ROOT, STACK, Stack

BUDGET = 20


async def _connections(database: str) -> int:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        return int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database))
    finally:
        await conn.close()


def test_an_idle_stack_holds_at_most_20_postgres_connections(system: Stack) -> None:
    # the test stack trims idle pools after DB_IDLE_TIMEOUT=5 s (helpdesk_testing.stack)
    deadline = time.monotonic() + 30
    while (count := asyncio.run(_connections(system.database))) > BUDGET and time.monotonic() < deadline:
        time.sleep(1)
    assert count <= BUDGET, f"{count} connections to {system.database} while idle"
    status = subprocess.run(
        [sys.executable, str(STACK), "status", "--instance", system.instance, "--port-offset", str(system.port_offset)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    printed = re.search(rf"postgres connections to {system.database}: (\d+)", status)
    assert printed is not None, status
    assert int(printed.group(1)) <= BUDGET
