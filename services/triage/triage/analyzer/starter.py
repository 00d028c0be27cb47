"""The default categories and a hand-written starter set, so triage is sensible on day one.

Written for this project (not taken from any data set): short, realistic tickets for each
default queue with a priority, the skills that help, and what typically resolved such a ticket.
The data lives in `starter.json` beside this module; `fallback_category` there is where an
analysis whose category is not configured goes (when it is configured).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from triage.analyzer.base import Example

_DATA: dict[str, Any] = json.loads(
    resources.files("triage.analyzer").joinpath("starter.json").read_text(encoding="utf-8")
)

DEFAULT_CATEGORIES: list[tuple[str, str]] = [(c["name"], c["description"]) for c in _DATA["categories"]]
FALLBACK_CATEGORY: str = _DATA["fallback_category"]


def starter_examples() -> list[Example]:
    """The starter set: about sixteen examples per default category, refs "starter:<n>"."""
    out: list[Example] = []
    for category, rows in _DATA["examples"].items():
        for row in rows:
            out.append(
                Example(
                    title=row["title"],
                    description=row["description"],
                    category=category,
                    priority=row["priority"],
                    skills=tuple(s.strip() for s in row["skills"].split(",") if s.strip()),
                    resolution=row["resolution"],
                    ref=f"starter:{len(out) + 1}",
                )
            )
    return out
