"""Fixtures for the cross-service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.stack import Stack


@pytest.fixture(scope="session")
def system() -> Iterator[Stack]:
    """The whole system as real processes, on ports and a database of its own."""
    stack = Stack.unique("system")
    try:
        stack.up()
    except BaseException:
        stack.purge()
        raise
    try:
        yield stack
    finally:
        stack.purge()
