"""argon2id password hashing, run in a small thread pool so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import secrets
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def make_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=TIME_COST,
        memory_cost=MEMORY_COST_KIB,
        parallelism=PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def _return_big_blocks_to_the_os() -> None:
    """Make glibc serve (and give back) big blocks with mmap, whatever their history.

    glibc raises its mmap threshold after a big block is freed, so each argon2 thread's 19 MiB
    then stays in that thread's arena for good: about 38 MB of resident memory for two workers,
    measured here. Fixing the threshold at glibc's default keeps the process near its idle size.
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        pass


class Passwords:
    """Hashes and verifies passwords off the event loop, at most `workers` at a time."""

    def __init__(self, *, workers: int = 2, hasher: PasswordHasher | None = None) -> None:
        _return_big_blocks_to_the_os()
        self._hasher = hasher or make_hasher()
        # bounded: each hash holds 19 MiB while it runs, and a burst of logins must not
        # turn into a burst of memory
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        # verified against when the email is unknown, so the answer takes as long as for a real one
        self._dummy_hash: str | None = None

    async def warm_up(self) -> None:
        """Make the dummy hash (call once at start, so no login pays for it)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with `password_hash=None` spends the same time and says no."""
        if password_hash is None:
            await self.warm_up()
        matched = await self._run(self._verify, password_hash or self._dummy_hash or "", password)
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
