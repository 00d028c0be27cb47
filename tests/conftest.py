"""Fixtures for the cross-service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.stack import Stack


@pytest.fixture(scope="session")
def system() -> Iterator[Stack]:
    """The whole system as real processes (gateway :10000, services :101xx)."""
    stack = Stack("system", 2000)
    try:
        stack.up()
    except BaseException:
        stack.down()
        raise
    try:
        yield stack
    finally:
        stack.down()
