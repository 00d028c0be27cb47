"""argon2id parameters and the password helper (unit tests, no servers)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from auth.passwords import MEMORY_COST_KIB, PARALLELISM, TIME_COST, Passwords, make_hasher
from auth.schemas import normalise_email, normalise_skills


def test_argon2id_parameters_meet_owasp_minimums():
    hasher = make_hasher()
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024
    assert hasher.time_cost >= 2
    assert hasher.parallelism == 1
    assert (MEMORY_COST_KIB, TIME_COST, PARALLELISM) == (19456, 2, 1)
    assert hasher.hash("a password").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.fixture(scope="module")
def passwords():
    helper = Passwords(workers=2)
    yield helper
    helper.close()


async def test_hash_and_verify(passwords: Passwords):
    hashed = await passwords.hash("s3cret password")
    assert hashed != "s3cret password"
    assert await passwords.verify(hashed, "s3cret password")
    assert not await passwords.verify(hashed, "S3cret password")
    assert not await passwords.verify(None, "s3cret password")
    assert not await passwords.verify("not a hash", "s3cret password")
    assert not passwords.needs_rehash(hashed)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("s3cret password")
    assert passwords.needs_rehash(weak)
    assert await passwords.verify(weak, "s3cret password")


async def test_hashing_runs_off_the_event_loop(passwords: Passwords):
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(passwords.hash("x" * 12) for _ in range(4)))
    task.cancel()
    assert ticks >= 5, "the loop kept running while argon2 worked"
    assert threading.get_ident() == loop_thread


def test_email_normalisation():
    assert normalise_email("  Ada@Example.TEST ") == "ada@example.test"
    assert normalise_email("first.last+tag@sub.example.co.uk") == "first.last+tag@sub.example.co.uk"
    for bad in (
        "",
        "ada",
        "ada@",
        "@example.test",
        "ada@example",
        "a b@example.test",
        "ada@@example.test",
        ".ada@example.test",
        "ada.@example.test",
        "ada@-example.test",
        "x" * 65 + "@example.test",
        "ada@exa_mple.test",
        "ädä@example.test",
    ):
        with pytest.raises(ValueError, match="email"):
            normalise_email(bad)


def test_skill_normalisation():
    assert normalise_skills([" Python ", "python", "PYTHON", "Go   lang", "go lang", "SQL"]) == [
        "Python",
        "Go lang",
        "SQL",
    ]
    assert normalise_skills([]) == []
    for bad in (["  "], [""], ["x" * 65], ["tab\x00"]):
        with pytest.raises(ValueError, match="skill"):
            normalise_skills(bad)
