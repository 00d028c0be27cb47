"""Skill normalisation: case, punctuation, aliases; no regex from input."""

import pytest
from triage.skills import clean_skills, normalise, words


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("PostgreSQL", "postgresql"),
        ("postgres", "postgresql"),
        ("  Postgres ", "postgresql"),
        ("PSQL", "postgresql"),
        ("Node.js", "nodejs"),
        ("K8s", "kubernetes"),
        ("Billing & Payments", "billing"),
        ("C++", "c++"),
        ("C#", "c#"),
        ("e-mail", "email"),
        ("Ｐｏｓｔｇｒｅｓ", "postgresql"),  # full-width letters fold by NFKC
    ],
)
def test_normalise(raw: str, canonical: str) -> None:
    assert normalise(raw) == canonical


def test_regex_metacharacters_are_plain_text() -> None:
    # A skill that would be a catastrophic or match-everything regex is just words here.
    assert normalise("(a+)+$") == "a+ +"
    assert normalise(".*") == ""
    assert words("postgres replication") == {"postgresql", "replication"}


def test_clean_skills_folds_duplicates_and_drops_junk() -> None:
    got = clean_skills(["Postgres", "PostgreSQL", "", "  ", "x" * 65, "VPN", "vpn ", 3])  # type: ignore[list-item]
    assert got == ("Postgres", "VPN")


def test_clean_skills_limit() -> None:
    assert len(clean_skills([f"s{i}" for i in range(100)], limit=10)) == 10
