"""What a new password must be (NIST SP 800-63B): long enough, not common, not the address itself.

No composition rules (a digit, a capital, a symbol): they make passwords harder to remember, not
to guess. The common list is services/auth/auth/common_passwords.txt (scripts/make_common_passwords.py).
"""

from __future__ import annotations

import functools
from importlib import resources

MIN_LENGTH = 12
MAX_LENGTH = 128


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lower-cased (read once)."""
    text = resources.files("auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _folded(value: str) -> str:
    return "".join(value.split()).casefold()


def password_problem(password: str, *, email: str, name: str | None = None) -> str | None:
    """Why `password` may not be used for the account `email` (named `name`), or None."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"Use {MIN_LENGTH} to {MAX_LENGTH} characters."
    folded = _folded(password)
    if len(set(folded)) <= 2:
        return "Use more than one or two different characters."
    common = common_passwords()
    if password.casefold() in common or folded in common:
        return "This password is too common; pick a longer phrase of your own."
    local = email.split("@", 1)[0]
    personal = {_folded(email), _folded(local), _folded(name or "")} - {""}
    if folded in personal:
        return "Do not use your email address or name as your password."
    return None
