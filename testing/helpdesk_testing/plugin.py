"""Pytest fixtures for tests on the real thing: a fresh database, a fresh vhost, JWT keys.

Loaded for the whole repo (`-p helpdesk_testing.plugin` in pyproject). With `TEST_CONTAINERS=1`
and a Docker engine, Postgres and RabbitMQ come from testcontainers; otherwise the local servers
(`TEST_PG_ADMIN_DSN`, `TEST_RABBITMQ_HOST`/`TEST_RABBITMQ_PORT`) are used. Tests never stop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

# tests build their settings explicitly; a developer's .env (from `make up`) must not leak in
os.environ["HELPDESK_ENV_FILE"] = ""

from shared.jwt import TokenIssuer, generate_keypair

from shared import dbsetup

ISSUER = "helpdesk-auth"
AUDIENCE = "helpdesk"


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


@dataclass
class Servers:
    pg_admin_dsn: str
    pg_host: str
    pg_port: int
    rabbit_host: str
    rabbit_port: int
    rabbit_user: str = "guest"
    rabbit_password: str = "guest"  # noqa: S105 - the local test broker's account
    containers: list[Any] = field(default_factory=list)
    vhost_via_ctl: bool = True


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Where the test Postgres and RabbitMQ run."""
    if os.environ.get("TEST_CONTAINERS") == "1" and _docker_available():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        pg = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres")
        mq = RabbitMqContainer("rabbitmq:3.13-alpine")
        pg.start()
        mq.start()
        pg_host, pg_port = pg.get_container_host_ip(), int(pg.get_exposed_port(5432))
        yield Servers(
            pg_admin_dsn=f"postgresql://postgres:postgres@{pg_host}:{pg_port}/postgres",
            pg_host=pg_host,
            pg_port=pg_port,
            rabbit_host=mq.get_container_host_ip(),
            rabbit_port=int(mq.get_exposed_port(5672)),
            containers=[pg, mq],
            vhost_via_ctl=False,
        )
        for container in (pg, mq):
            container.stop()
        return
    yield Servers(
        pg_admin_dsn=os.environ.get("TEST_PG_ADMIN_DSN", dbsetup.DEFAULT_ADMIN_DSN),
        pg_host=os.environ.get("TEST_PG_HOST", "127.0.0.1"),
        pg_port=int(os.environ.get("TEST_PG_PORT", "5432")),
        rabbit_host=os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1"),
        rabbit_port=int(os.environ.get("TEST_RABBITMQ_PORT", "5672")),
    )


@dataclass
class TestDatabase:
    """A database made for this test run, with every service's role and schema."""

    __test__ = False
    name: str
    host: str
    port: int
    admin_dsn: str

    password: str | None = None

    def url(self, service: str, *, host: str | None = None, port: int | None = None) -> str:
        """SQLAlchemy URL connecting as the service's own role (optionally through a proxy)."""
        return dbsetup.service_database_url(
            service,
            database=self.name,
            host=host or self.host,
            port=port or self.port,
            password=self.password,
        )

    def admin_url(self) -> str:
        """asyncpg DSN of the superuser on this database (for assertions only)."""
        return self.admin_dsn.rsplit("/", 1)[0] + f"/{self.name}"


@pytest.fixture(scope="session")
def make_database(servers: Servers) -> Iterator[Callable[[], Awaitable[TestDatabase]]]:
    """Factory: a fresh database with roles and schemas; dropped at the end of the session."""
    made: list[str] = []

    async def make() -> TestDatabase:
        name = f"hd_test_{uuid.uuid4().hex[:10]}"
        # a container's Postgres checks passwords; the local test server trusts loopback
        password = None if servers.vhost_via_ctl else "test-only-password"
        await dbsetup.setup(admin_dsn=servers.pg_admin_dsn, database=name, password=password)
        made.append(name)
        return TestDatabase(name, servers.pg_host, servers.pg_port, servers.pg_admin_dsn, password)

    yield make
    for name in made:
        asyncio.run(dbsetup.drop_database(admin_dsn=servers.pg_admin_dsn, database=name))


@pytest.fixture(scope="session")
async def pg_database(make_database: Callable[[], Awaitable[TestDatabase]]) -> TestDatabase:
    """One fresh database for the session (migrations are the service conftest's job)."""
    return await make_database()


def _rabbitmqctl(servers: Servers, *args: str) -> None:
    if servers.containers:
        code, output = servers.containers[1].exec(["rabbitmqctl", "-q", *args])
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {output!r}")
        return
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def _create_vhost(servers: Servers) -> str:
    name = f"hd_test_{uuid.uuid4().hex[:10]}"
    _rabbitmqctl(servers, "add_vhost", name)
    _rabbitmqctl(servers, "set_permissions", "-p", name, servers.rabbit_user, ".*", ".*", ".*")
    return name


@pytest.fixture(scope="session")
def make_vhost(servers: Servers) -> Iterator[Callable[[], str]]:
    """Factory: the AMQP URL of a fresh, empty vhost; deleted at the end of the session.

    rabbitmqctl takes a second or two per call, so a background thread keeps a few vhosts
    ready ahead of the tests that ask for one.
    """
    made: list[str] = []
    ready: list[Future[str]] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhosts")
    ahead = 2

    def make() -> str:
        while len(ready) < ahead + 1:
            ready.append(pool.submit(_create_vhost, servers))
        name = ready.pop(0).result(timeout=120)
        ready.append(pool.submit(_create_vhost, servers))
        made.append(name)
        return (
            f"amqp://{servers.rabbit_user}:{servers.rabbit_password}@{servers.rabbit_host}:{servers.rabbit_port}/{name}"
        )

    yield make
    for future in ready:
        with contextlib.suppress(Exception):
            made.append(future.result(timeout=120))
    pool.shutdown(wait=True)
    if servers.containers:
        return  # the container goes away with every vhost in it
    # delete in parallel: one by one costs a second or two each
    for start in range(0, len(made), 8):
        procs = [
            subprocess.Popen(
                ["rabbitmqctl", "-q", "delete_vhost", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for name in made[start : start + 8]
        ]
        for proc in procs:
            proc.wait(timeout=120)


@pytest.fixture(scope="session")
def rabbitmq_url(make_vhost: Callable[[], str]) -> str:
    """A fresh vhost for the session."""
    return make_vhost()


@dataclass(frozen=True)
class JwtKeys:
    private_pem: str
    public_pem: str
    issuer: str = ISSUER
    audience: str = AUDIENCE

    def issuer_for_tests(self, ttl: timedelta = timedelta(minutes=15)) -> TokenIssuer:
        return TokenIssuer(private_key_pem=self.private_pem, issuer=self.issuer, audience=self.audience, ttl=ttl)

    def token(
        self,
        *,
        role: str = "user",
        user_id: uuid.UUID | None = None,
        email: str | None = None,
        name: str = "Test User",
        now: datetime | None = None,
    ) -> str:
        """A valid access token for a made-up user (services trust what the token says)."""
        user_id = user_id or uuid.uuid4()
        return self.issuer_for_tests().issue(
            user_id=user_id,
            role=role,
            email=email or f"{user_id.hex[:8]}@example.test",
            name=name,
            now=now or datetime.now(UTC),
        )


@pytest.fixture(scope="session")
def jwt_keys() -> JwtKeys:
    private_pem, public_pem = generate_keypair()
    return JwtKeys(private_pem, public_pem)


@asynccontextmanager
async def app_client(
    app: Any, *, base_url: str = "http://testserver", raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the ASGI app in-process, with the app's lifespan running.

    `raise_app_exceptions=False`: an unhandled error is the 500 the app answers, as a real client sees it.
    """
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


async def wait_for(
    predicate: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


class CommitRefusedError(Exception):
    """What `refused_commits` makes every commit raise."""


def _refuse_commit(session: Any) -> None:
    raise CommitRefusedError("commit refused by the test")


@contextlib.contextmanager
def refused_commits(app: Any) -> Iterator[None]:
    """Every commit of a session the app's runtime hands out meanwhile fails (a lost database, say)."""
    runtime = app.state.runtime
    real = runtime.sessions

    def sessions() -> Any:
        session = real()
        event.listen(session.sync_session, "before_commit", _refuse_commit)
        return session

    runtime.sessions = sessions
    try:
        yield
    finally:
        runtime.sessions = real


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
