"""Alembic environment of tickets: its own schema, its own role, its version table."""

from shared.migrations import run_env
from tickets.models import SCHEMA, metadata
from tickets.settings import TicketsSettings

run_env(metadata=metadata, schema=SCHEMA, default_url=TicketsSettings().database_url)
