"""Skill normalisation: case, punctuation, spacing and aliases, without any regex from input.

Skills come from two untrusted sources (admins typing them, the model suggesting them), so
they are compared only after being folded to a canonical form here. The only regular
expressions are the fixed ones below; nothing taken from input is ever compiled.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MAX_SKILL_LEN = 64

# Fixed patterns (never built from input): anything that is not a letter, digit or one of the
# characters that carry meaning in skill names ("c++", "c#", ".net", "node.js") splits words.
_SEPARATORS = re.compile(r"[^\w+#]+", re.UNICODE)

# Whole-phrase aliases, keyed and valued in normalised form.
PHRASE_ALIASES: dict[str, str] = {
    "postgres": "postgresql",
    "postgre sql": "postgresql",
    "postgres sql": "postgresql",
    "psql": "postgresql",
    "pg": "postgresql",
    "pgsql": "postgresql",
    "mssql": "sql server",
    "ms sql": "sql server",
    "microsoft sql server": "sql server",
    "k8s": "kubernetes",
    "kube": "kubernetes",
    "js": "javascript",
    "ecmascript": "javascript",
    "ts": "typescript",
    "golang": "go",
    "py": "python",
    "python3": "python",
    "node": "nodejs",
    "node js": "nodejs",
    "react js": "react",
    "reactjs": "react",
    "dotnet": "net",
    "amazon web services": "aws",
    "gcp": "google cloud",
    "google cloud platform": "google cloud",
    "ms azure": "azure",
    "microsoft azure": "azure",
    "mongo": "mongodb",
    "mongo db": "mongodb",
    "e mail": "email",
    "mail": "email",
    "smtp": "email",
    "active directory": "ad",
    "ldap": "ad",
    "sso": "single sign on",
    "2fa": "mfa",
    "two factor": "mfa",
    "two factor authentication": "mfa",
    "multi factor authentication": "mfa",
    "vpn access": "vpn",
    "network": "networking",
    "networks": "networking",
    "payment": "billing",
    "payments": "billing",
    "invoice": "billing",
    "invoices": "billing",
    "invoicing": "billing",
    "refund": "refunds",
    "return": "returns",
    "hr": "human resources",
    "outage": "outages",
    "infosec": "security",
    "cyber security": "security",
    "cybersecurity": "security",
}

# Single-word aliases, applied word by word inside longer phrases ("postgres replication").
WORD_ALIASES: dict[str, str] = {
    "postgres": "postgresql",
    "psql": "postgresql",
    "pgsql": "postgresql",
    "k8s": "kubernetes",
    "golang": "go",
    "mongo": "mongodb",
    "payment": "billing",
    "payments": "billing",
    "invoice": "billing",
    "invoices": "billing",
    "invoicing": "billing",
    "networks": "networking",
    "network": "networking",
    "outage": "outages",
    "refund": "refunds",
    "return": "returns",
    "returns": "returns",
}

# Words that say nothing about who should handle a ticket: an overlap made only of these is no
# match ("Customer Service" and "technical support" share nothing that routes).
STOPWORDS = frozenset(
    {
        "and",
        "or",
        "the",
        "a",
        "an",
        "of",
        "for",
        "to",
        "in",
        "on",
        "with",
        "&",
        "support",
        "issue",
        "issues",
        "problem",
        "problems",
        "general",
        "service",
        "services",
        "help",
        "helpdesk",
        "desk",
        "customer",
        "customers",
        "client",
        "clients",
        "technical",
        "tech",
        "product",
        "products",
        "inquiry",
        "inquiries",
        "enquiry",
        "enquiries",
        "question",
        "questions",
        "request",
        "requests",
        "team",
        "teams",
        "it",
        "other",
        "misc",
        "miscellaneous",
        "system",
        "systems",
        "user",
        "users",
        "department",
        "level",
        "tier",
        "is",
        "my",
        "our",
        "your",
        "we",
        "i",
        "you",
        "not",
        "no",
        "new",
        "all",
        "any",
        "please",
    }
)
# Separators between alternatives inside one skill name ("Returns and Exchanges", "A / B").
_ALTERNATIVES = re.compile(r"\s*(?:,|;|/|&|\band\b|\bor\b)\s*", re.IGNORECASE)


@lru_cache(maxsize=8192)
def normalise(skill: str) -> str:
    """Fold a skill to its canonical form: NFKC, lower case, punctuation to spaces, aliases."""
    text = unicodedata.normalize("NFKC", skill)[: MAX_SKILL_LEN * 2].casefold()
    # "node.js" and ".net" lose their dots; "c++"/"c#" keep their marks.
    words = [w.strip("_") for w in _SEPARATORS.split(text)]
    phrase = " ".join(w for w in words if w)
    if phrase in PHRASE_ALIASES:
        return PHRASE_ALIASES[phrase]
    folded = [WORD_ALIASES.get(w, w) for w in phrase.split()]
    # "Billing & Payments" folds to "billing billing": keep each word once.
    return " ".join(dict.fromkeys(folded))


@lru_cache(maxsize=8192)
def words(skill: str) -> frozenset[str]:
    """The meaningful words of a skill after normalisation (for partial matches)."""
    return frozenset(w for w in normalise(skill).split() if w not in STOPWORDS)


def clean_skills(skills: Iterable[str], *, limit: int = 50) -> tuple[str, ...]:
    """Trim, drop empty/overlong ones and fold duplicates (by canonical form), keeping order."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in skills:
        if not isinstance(raw, str):
            continue
        skill = " ".join(raw.split())
        if not skill or len(skill) > MAX_SKILL_LEN:
            continue
        key = normalise(skill)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(skill)
        if len(out) >= limit:
            break
    return tuple(out)


@lru_cache(maxsize=16384)
def _stem(word: str) -> str:
    """Simple morphology: printers/printer, invoicing/invoice, networks/networking fold together."""
    word = WORD_ALIASES.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _stems(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [_stem(w) for w in (w.strip("_") for w in _SEPARATORS.split(folded)) if len(w) > 1]


def text_terms(text: str) -> frozenset[str]:
    """The word stems of a ticket's text, for `mentions`."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # each distinct word stemmed once
    return frozenset(_stem(w) for w in {w.strip("_") for w in _SEPARATORS.split(folded)} if len(w) > 1)


_GENERIC_STEMS = frozenset(_stem(w) for w in STOPWORDS)


@lru_cache(maxsize=8192)
def skill_terms(skill: str) -> tuple[frozenset[str], ...]:
    """The ways a skill can be written in a ticket: each alternative's meaningful word stems."""
    parts: list[frozenset[str]] = []
    for alternative in _ALTERNATIVES.split(skill[: MAX_SKILL_LEN * 2]):
        # the alias' canonical form too ("VPN access" is written "VPN"), unless it is a short
        # abbreviation that would match ordinary words ("Active Directory" -> "ad")
        canonical = normalise(alternative)
        for form in (alternative, canonical):
            stems = frozenset(w for w in _stems(form) if w not in _GENERIC_STEMS and len(w) > 1)
            if form is canonical and any(len(w) < 3 for w in stems):
                continue
            if stems and stems not in parts:
                parts.append(stems)
    return tuple(parts)


def mentions(terms: frozenset[str], skill: str) -> bool:
    """True when the ticket's text (as `text_terms`) writes the skill: every word of one alternative.

    A skill made only of generic words ("IT Support", "General Inquiry") is never mentioned.
    """
    return any(part <= terms for part in skill_terms(skill))
