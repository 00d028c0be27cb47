"""Alembic environment of the notifier: its own schema, its own role, its version table."""

from notifier.models import SCHEMA, metadata
from notifier.settings import NotifierSettings
from shared.migrations import run_env

run_env(metadata=metadata, schema=SCHEMA, default_url=NotifierSettings().database_url)
