"""Alembic environment of the auth schema (version table inside the schema)."""

from auth.models import SCHEMA, Base
from auth.settings import AuthSettings
from shared.migrations import run_env

run_env(metadata=Base.metadata, schema=SCHEMA, default_url=AuthSettings().database_url)
