"""Alembic glue: each service's migrations/env.py calls `run_env`; tests call `upgrade`."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run_env(*, metadata: MetaData, schema: str, default_url: str) -> None:
    """Body of a service's env.py: online migrations in the service's schema, as its role."""
    config = context.config
    url = config.attributes.get("database_url") or default_url

    def include_name(name: str | None, type_: str, _parent: object) -> bool:
        # the role's search_path makes its own schema the default one, which Alembic reports as None
        if type_ == "table" and name == "alembic_version":
            return False  # Alembic's own bookkeeping, seen under the default schema's name (None)
        return type_ != "schema" or name in (schema, None)

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        # through PgBouncer (DB_BEHIND_POOLER) asyncpg must not keep server-side statements
        behind_pooler = os.environ.get("DB_BEHIND_POOLER", "").lower() in ("1", "true", "yes")
        connect_args: dict[str, object] = {}
        if behind_pooler:
            connect_args = {
                "statement_cache_size": 0,
                "prepared_statement_cache_size": 0,
                "prepared_statement_name_func": lambda: f"__hd_{uuid.uuid4().hex}__",
            }
        engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run())


def alembic_config(ini_path: str | Path, database_url: str | None = None) -> Config:
    config = Config(str(ini_path))
    config.set_main_option("script_location", str(Path(ini_path).parent / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


async def upgrade(ini_path: str | Path, database_url: str, revision: str = "head") -> None:
    """Run a service's migrations from async code (tests): Alembic runs in a worker thread."""
    await asyncio.to_thread(command.upgrade, alembic_config(ini_path, database_url), revision)
