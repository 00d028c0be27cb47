"""Alembic environment of the triage schema (version table inside the schema)."""

from shared.migrations import run_env
from triage.models import SCHEMA, Base
from triage.settings import TriageSettings

run_env(metadata=Base.metadata, schema=SCHEMA, default_url=TriageSettings().database_url)
