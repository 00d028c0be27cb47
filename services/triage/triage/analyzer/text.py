"""Text helpers of the local analyzer: model input, cue words, URL stripping, extractive summary.

Every pattern here is fixed; nothing taken from a ticket is ever compiled into a regex.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

SUMMARY_LIMIT = 200

# Anything that looks like a link: scheme URLs, "www." hosts, and bare host/path forms.
_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://\S+|www\.\S+|\b[\w-]+(?:\.[\w-]+)+/\S*)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

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


_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|greetings|good\s+(?:morning|afternoon|evening|day)|to\s+whom\s+it\s+may\s+concern)"
    r"\b[^,.!:;]{0,40}(?:[,.!:;]\s*|$)",
    re.IGNORECASE,
)
# A sentence opening like this is a closing formula; the regards/sincerely kind ends the text.
_CLOSING = re.compile(
    r"^(?:thanks|thank\s+you|many\s+thanks|thx|i\s+look\s+forward|looking\s+forward|"
    r"i\s+appreciate|appreciate\s+(?:it|your)|any\s+help|your\s+help|please\s+(?:let\s+me\s+know|advise))\b",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^(?:best|kind|warm|with\s+kind)?\s*(?:regards|wishes)\b|^(?:sincerely|cheers|yours\s+(?:truly|sincerely))\b|^--",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"<[a-z_]{2,20}>", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
SUMMARY_SENTENCES = 2


def _substance(description: str) -> Iterator[str]:
    """The description's sentences without greeting, closing formulas and signature (lazily)."""
    for raw in _SENTENCES.split(unicodedata.normalize("NFKC", description)):
        sentence = clean(_PLACEHOLDER.sub(" ", strip_urls(raw)))
        if not sentence:
            continue
        if _SIGNATURE.match(sentence):
            break
        sentence = _GREETING.sub("", sentence).strip()
        if len(sentence.split()) < 3 or (_CLOSING.match(sentence) and len(sentence.split()) <= 14):
            continue
        yield sentence


def summarize(title: str, description: str, *, limit: int = SUMMARY_LIMIT) -> str:
    """Extractive summary: the description's first one or two sentences of substance, links removed.

    Greetings, thanks and signatures are dropped, and a sentence that only repeats the title is
    skipped; the title stands in only when the description says nothing else.
    """
    head = clean(_PLACEHOLDER.sub(" ", strip_urls(title))).rstrip(" .")
    picked: list[str] = []
    for sentence in _substance(description):
        if sentence.rstrip(" .!?").casefold() == head.casefold():
            continue
        if picked and len(" ".join([*picked, sentence])) > limit:
            break
        picked.append(sentence)
        if len(picked) >= SUMMARY_SENTENCES:
            break
    if not picked:
        return clip(head, limit)
    return clip(" ".join(picked), limit)


def normalise_skill(skill: str) -> str:
    """Lower case, single spaces, no surrounding punctuation."""
    return clean(skill).casefold().strip(" .,;:-")
