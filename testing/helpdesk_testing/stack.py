"""A whole stack of real processes for cross-service tests, started by scripts/stack.py.

Each test session that needs one starts a separate instance (own ports, database, vhost and
var/ folder) from empty and stops it afterwards; a developer's `make up` stack is untouched.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # testing/helpdesk_testing/stack.py → the repository
STACK = ROOT / "scripts" / "stack.py"


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip('"')
    return values


@dataclass
class Stack:
    instance: str
    port_offset: int

    @property
    def var(self) -> Path:
        return ROOT / "var" / "instances" / self.instance

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{8000 + self.port_offset}"

    def service_url(self, service: str) -> str:
        ports = {"auth": 8101, "tickets": 8102, "triage": 8103, "notifier": 8104}
        return f"http://127.0.0.1:{ports[service] + self.port_offset}"

    @property
    def database(self) -> str:
        return f"helpdesk_{self.instance}"

    @property
    def vhost(self) -> str:
        return f"helpdesk_{self.instance}"

    @property
    def mail_in_port(self) -> int:
        """The mail-in process's SMTP listener (scripts/stack.py: 2525 + the offset)."""
        return 2525 + self.port_offset

    @property
    def mail_dir(self) -> Path:
        return self.var / "mail"

    @property
    def env(self) -> dict[str, str]:
        return read_env(self.var / ".env")

    @property
    def admin(self) -> tuple[str, str]:
        env = self.env
        return env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_PASSWORD"]

    def _run(self, *args: str, extra_env: dict[str, str] | None = None) -> None:
        import os

        env = {**os.environ, **(extra_env or {})}
        result = subprocess.run(
            [sys.executable, str(STACK), *args, "--instance", self.instance, "--port-offset", str(self.port_offset)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"stack {args[0]} failed:\n{result.stdout}\n{result.stderr}")

    def up(self, extra_env: dict[str, str] | None = None) -> None:
        # small pools: a test stack shares the machine's Postgres (100 connections) with the tests
        # (and idle pools trimmed soon: tests/security checks the idle connection budget)
        small = {"DB_POOL_SIZE": "3", "BUS_PREFETCH": "6", "DB_IDLE_TIMEOUT": "5"}
        # every test client signs up from 127.0.0.1 (schemathesis alone makes dozens of accounts)
        small["AUTH_SIGNUP_ADDRESS_LIMIT"] = "0"
        self._run("up", "--no-web", "--fresh", extra_env={**small, **(extra_env or {})})

    def down(self) -> None:
        self._run("down")

    def purge(self) -> None:
        """Stop it and remove its database, vhost and folder."""
        self._run("purge")

    @classmethod
    def unique(cls, prefix: str) -> Stack:
        """An instance whose name and ports no other test run on this machine uses right now."""
        import os
        import socket

        def free(port: int) -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) != 0

        name = f"{prefix}_{os.getpid()}"
        for offset in range(2000, 9000, 100):
            ports = [8000, 8101, 8102, 8103, 8104, 1025]
            if all(free(port + offset) for port in ports):
                return cls(name, offset)
        raise RuntimeError("no free port range for a test stack")

    def pid(self, process: str) -> int | None:
        path = self.var / "run" / f"{process}.pid"
        return int(path.read_text()) if path.exists() else None
