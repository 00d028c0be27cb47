"""Create the database, one Postgres role and one schema per service (idempotent).

Each role owns its schema and nothing else: it cannot use another service's schema, and the
database's `public` schema is closed to it. Run as a superuser:
`python -m shared.dbsetup [--admin-dsn postgresql://postgres@127.0.0.1:5432/postgres] [--database helpdesk]`.
Passwords come from `<SERVICE>_DB_PASSWORD` when set (required in production).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

SERVICES = ("auth", "tickets", "triage", "notifier")
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "helpdesk"


def role_name(service: str) -> str:
    return f"helpdesk_{service}"


def service_database_url(
    service: str,
    *,
    database: str = DEFAULT_DATABASE,
    host: str = "127.0.0.1",
    port: int = 5432,
    password: str | None = None,
) -> str:
    auth = role_name(service) + (f":{password}" if password else "")
    return f"postgresql+asyncpg://{auth}@{host}:{port}/{database}"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


async def _ignore_races(conn: asyncpg.Connection, sql: str) -> None:
    # roles are cluster-wide: two setups at once may both try to create one
    try:
        await conn.execute(sql)
    except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError):
        pass
    except asyncpg.InternalServerError as exc:
        if "concurrently" not in str(exc):
            raise


async def setup(
    *,
    admin_dsn: str = DEFAULT_ADMIN_DSN,
    database: str = DEFAULT_DATABASE,
    services: tuple[str, ...] = SERVICES,
    password: str | None = None,
) -> None:
    """Make the database, roles and schemas; `password` (tests) applies to every role."""
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await _ignore_races(admin, f"CREATE DATABASE {_ident(database)}")
        for service in services:
            role = role_name(service)
            password_ = password or os.environ.get(f"{service.upper()}_DB_PASSWORD")
            if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await _ignore_races(admin, f"CREATE ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            if password_:
                await admin.execute(f"ALTER ROLE {_ident(role)} PASSWORD {_literal(password_)}")
    finally:
        await admin.close()

    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for service in services:
            role = role_name(service)
            await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {_ident(database)} TO {_ident(role)}")
            await _ignore_races(conn, f"CREATE SCHEMA IF NOT EXISTS {_ident(service)} AUTHORIZATION {_ident(role)}")
            await conn.execute(f"ALTER SCHEMA {_ident(service)} OWNER TO {_ident(role)}")
            await conn.execute(
                f"ALTER ROLE {_ident(role)} IN DATABASE {_ident(database)} SET search_path = {_ident(service)}"
            )
    finally:
        await conn.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def drop_database(*, admin_dsn: str = DEFAULT_ADMIN_DSN, database: str) -> None:
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-dsn", default=os.environ.get("PG_ADMIN_DSN", DEFAULT_ADMIN_DSN))
    parser.add_argument("--database", default=os.environ.get("PG_DATABASE", DEFAULT_DATABASE))
    args = parser.parse_args()
    asyncio.run(setup(admin_dsn=args.admin_dsn, database=args.database))
    print(f"database {args.database}: roles and schemas ready for {', '.join(SERVICES)}")


if __name__ == "__main__":
    main()
