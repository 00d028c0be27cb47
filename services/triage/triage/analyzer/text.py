"""Text helpers of the local analyzer: model input, cue words, URL stripping, extractive summary.

Every pattern here is fixed; nothing taken from a ticket is ever compiled into a regex.
"""

from __future__ import annotations

import re
import unicodedata

SUMMARY_LIMIT = 200

# Anything that looks like a link: scheme URLs, "www." hosts, and bare host/path forms.
_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://\S+|www\.\S+|\b[\w-]+(?:\.[\w-]+)+/\S*)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Words that say how badly something hurts (or that it does not): a small feature block that
# helps priority when there are few examples, and that a learned weight can ignore otherwise.
# fmt: off
URGENT_CUES = (
    "urgent", "urgently", "asap", "as soon as possible", "immediately", "critical", "emergency",
    "down", "outage", "not working", "stopped working", "cannot access", "can't access",
    "unable to", "cannot log in", "can't log in", "locked out", "data loss", "lost data",
    "breach", "hacked", "security", "production", "all users", "everyone", "whole", "entire",
    "crash", "deadline", "today", "blocked", "fraud", "charged twice",
)
CALM_CUES = (
    "question", "wondering", "curious", "information", "inquiry", "when you have time",
    "no rush", "not urgent", "feedback", "suggestion", "would like to know", "brochure",
    "just wanted", "thank you",
)
# fmt: on
CUES = URGENT_CUES + CALM_CUES


def clean(text: str) -> str:
    """NFKC-normalised text with runs of whitespace folded to one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def model_input(title: str, description: str) -> str:
    """The one string the classifiers read for a ticket."""
    return f"{clean(title)}. {clean(description)}"


def cue_vector(text: str) -> list[float]:
    """1.0 for each cue phrase present in the (already folded) text, else 0.0."""
    folded = text.casefold()
    return [1.0 if cue in folded else 0.0 for cue in CUES]


def strip_urls(text: str) -> str:
    """The text without anything that looks like a link."""
    return clean(_URL.sub(" ", text))


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def first_sentence(text: str) -> str:
    """The first sentence of a text (or all of it when it has no sentence end)."""
    text = clean(text)
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""


def summarize(title: str, description: str, *, limit: int = SUMMARY_LIMIT) -> str:
    """Extractive summary: the title, then the description's first sentence, links removed."""
    head = strip_urls(title).rstrip(" .")
    lead = strip_urls(first_sentence(description))
    if not head:
        return clip(lead, limit)
    if not lead or lead.casefold().startswith(head.casefold()):
        return clip(lead or head, limit)
    return clip(f"{head}: {lead}", limit)


def normalise_skill(skill: str) -> str:
    """Lower case, single spaces, no surrounding punctuation."""
    return clean(skill).casefold().strip(" .,;:-")
