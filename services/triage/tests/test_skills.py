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


def test_mentions_needs_every_word_of_one_alternative() -> None:
    from triage.skills import mentions, skill_terms, text_terms

    assert skill_terms("Returns and Exchanges") == (frozenset({"return"}), frozenset({"exchang"}))
    assert skill_terms("IT Support") == ()
    terms = text_terms("I want to exchange the shoes; human error on your side")
    assert mentions(terms, "Returns and Exchanges")
    assert not mentions(terms, "Human Resources")  # "resources" is not written
    assert mentions(text_terms("Human resources lost my payslips"), "Human Resources")
    assert not mentions(text_terms("[a-z]+ .* (x|y)"), "(x|y)")
