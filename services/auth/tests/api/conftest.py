"""The app every auth API test module talks to, and a clean database for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from auth.app import create_app
from auth.settings import AuthSettings
from helpdesk_testing.plugin import app_client

from ..helpers import Db


@pytest.fixture(scope="module")
async def client(make_settings: Callable[..., AuthSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(make_settings())) as client:
        yield client


@pytest.fixture(autouse=True)
async def clean(db: Db) -> None:
    await db.reset()
