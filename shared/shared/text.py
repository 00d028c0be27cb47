"""Text a service can store: Postgres refuses NUL, and a lone surrogate cannot be encoded as UTF-8.

JSON lets a client send both ("\\u0000", "\\ud800"); without this check they reach the database
and fail there as a 500. Use `Storable` on every free-text field of a request body.
"""

from __future__ import annotations

from pydantic import AfterValidator


def storable(value: str) -> str:
    """The value unchanged, or ValueError when the database could not hold it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


Storable = AfterValidator(storable)
