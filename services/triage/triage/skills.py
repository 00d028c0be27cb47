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

# Words that say nothing about who should handle a ticket.
STOPWORDS = frozenset(
    {"and", "or", "the", "a", "an", "of", "for", "to", "in", "on", "with", "&", "support",
     "issue", "issues", "problem", "problems", "general"}
)


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
