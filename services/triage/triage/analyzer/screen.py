"""Sentences that address the triage instead of describing the problem: found, removed, flagged.

A requester may write "assign this to billing", "set priority high" or "ignore previous
instructions". Such sentences say nothing about what is wrong, so they are taken out of the text
every model (local or remote) classifies and every rule routes on, and staff see a flag instead.
What the requester asked for may raise the priority by one step at most, and only with a flag.
Every pattern is fixed here; nothing from a ticket is ever compiled into a regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from shared.events import PRIORITIES

# Sentence ends, line breaks, ellipses and dashes between clauses split a ticket into sentences.
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+|…|\.\.\.+|\s+[—–]\s+|\s+-\s+")
_WORD = re.compile(r"[a-z0-9']+")

_HIGH = r"(?:high(?:est)?|urgent|critical|top|p1|max(?:imum)?|immediate)"
_ANY_LEVEL = r"(?:high(?:est)?|urgent|critical|top|p[1-3]|low(?:est)?|medium|normal|max(?:imum)?)"
_TICKET = r"(?:this|it|the|my|our|that)?\s*(?:ticket|request|case|issue|one|message)?"

# (pattern, kind): kind is "assign", "priority", "override" or "category".
# fmt: off
_INSTRUCTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:re)?(?:assign|route)\s+" + _TICKET + r"\s*(?:over\s+)?(?:to|towards)\b"), "assign"),
    (re.compile(r"\b(?:forward|transfer|escalate|send|pass|give)\s+(?:this|the|my|our)\s+(?:ticket|request|case)"
                r"\s+(?:over\s+)?to\b"), "assign"),
    (re.compile(r"\b(?:assignee|owner|handler)\s*(?:should|must|=|:|is)"), "assign"),
    (re.compile(r"\b(?:set|change|make|raise|bump|put|mark|flag|treat|give|update|upgrade)\b[^.!?]{0,40}"
                r"\b(?:priority|severity|urgent|urgency|critical|p1)\b"), "priority"),
    (re.compile(r"\bpriority\s*(?:to|should|must|=|:|is|of|level)?\s*(?:be\s+)?(?:set\s+to\s+)?"
                + _ANY_LEVEL + r"\b"), "priority"),
    (re.compile(r"\b" + _HIGH + r"\s+priority\b(?:\s+please)?\s*[!.]*$"), "priority"),
    (re.compile(r"\b(?:this|it)\s+(?:is|should\s+be|must\s+be)\s+(?:a\s+)?" + _HIGH + r"(?:\s+priority)?\b"
                r"[^.!?]{0,20}\bescalat"), "priority"),
    (re.compile(r"\bescalate\s+(?:this|it|the\s+(?:ticket|case|request)|my|our|immediately|now|asap)\b"),
     "priority"),
    (re.compile(r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,40}"
                r"\b(?:instructions?|rules?|prompts?|guidelines|above|previous|prior)\b"), "override"),
    (re.compile(r"\b(?:system\s+(?:prompt|override|message)|new\s+(?:instructions?|rules?)|you\s+are\s+now|"
                r"as\s+an?\s+(?:ai|language\s+model|assistant))\b"), "override"),
    (re.compile(r"\b(?:print|reveal|show|output|repeat)\b[^.!?]{0,30}\b(?:prompt|instructions)\b"), "override"),
    (re.compile(r"\b(?:category|queue|department)\s*(?:should|must|=|:|is\s+to)\b"), "category"),
    (re.compile(r"\b(?:classify|categori[sz]e|file|label|tag)\s+" + _TICKET + r"\s*(?:as|under|in)\b"),
     "category"),
)
# fmt: on

# Every instruction pattern above needs one of these words: a sentence without any is skipped
# at the cost of one search (most tickets have none at all).
_TRIGGER = re.compile(
    r"assign|route|forward|transfer|escalat|send|pass|give|owner|handler|priority|severity|urgen|"
    r"critical|p1|ignore|disregard|forget|override|bypass|system|instruction|rule|you\s+are|"
    r"as\s+an?\s|print|reveal|show|output|repeat|category|queue|department|classif|categori|file|"
    r"label|tag"
)
# A short sentence made only of these words is the requester's urgency, not a description.
_URGENCY_WORDS = frozenset(
    "urgent urgently asap very extremely super really important critical emergency immediately "
    "now please pls top high highest priority this is it's its a an needed need help fast quickly "
    "respond reply attention".split()
)
_URGENT_HINT = frozenset({"urgent", "urgently", "asap", "critical", "emergency", "immediately", "priority"})


OVERRIDE_FLAG = "the ticket contains instructions addressed to the triage system; ignored"


@dataclass(frozen=True)
class Screened:
    """A ticket with the sentences that address the triage taken out."""

    title: str
    description: str
    flags: tuple[str, ...]
    # the priority the requester asked for, if any (raises the model's by one step at most)
    requested_priority: str | None

    @property
    def text(self) -> str:
        """Title and description as one string, for routing on what is written."""
        return f"{self.title}\n{self.description}".strip()


def _requested_level(sentence: str) -> str | None:
    for level in ("low", "medium", "normal"):
        if re.search(r"\b" + level + r"\b", sentence) and not re.search(_HIGH, sentence):
            return "medium" if level == "normal" else level
    return "high"


def _classify(sentence: str) -> set[str]:
    """The kinds of instruction a (folded) sentence holds; empty when it describes the problem."""
    kinds = (
        {kind for pattern, kind in _INSTRUCTIONS if pattern.search(sentence)} if _TRIGGER.search(sentence) else set()
    )
    words = _WORD.findall(sentence)
    if words and len(words) <= 6 and set(words) <= _URGENCY_WORDS and set(words) & _URGENT_HINT:
        kinds.add("urgency")
    return kinds


def _split(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SPLIT.split(text)) if s]


@lru_cache(maxsize=64)
def screen(title: str, description: str) -> Screened:
    """Drop instruction sentences from title and description; say what was asked in flags."""
    kinds: dict[str, list[str]] = {}
    requested: str | None = None
    parts: list[str] = []
    for text in (title, description):
        kept: list[str] = []
        for sentence in _split(text):
            folded = sentence.casefold()
            found = _classify(folded)
            if not found:
                kept.append(sentence)
                continue
            for kind in found:
                kinds.setdefault(kind, []).append(sentence)
            if found & {"priority", "urgency"}:
                level = _requested_level(folded)
                if requested is None or PRIORITIES.index(level) > PRIORITIES.index(requested):
                    requested = level
        parts.append(" ".join(kept))
    flags: list[str] = []
    if requested is not None:
        flags.append(f"the requester asked for {requested} priority")
    if "assign" in kinds:
        flags.append("the requester asked to route the ticket to someone; ignored")
    if "category" in kinds:
        flags.append("the requester asked for a category; ignored")
    if "override" in kinds:
        flags.append(OVERRIDE_FLAG)
    return Screened(title=parts[0], description=parts[1], flags=tuple(flags), requested_priority=requested)


def adjust_priority(predicted: str, screened: Screened) -> tuple[str, tuple[str, ...]]:
    """The model's priority, raised one step at most towards what the requester asked (flagged)."""
    flags = list(screened.flags)
    asked = screened.requested_priority
    if predicted not in PRIORITIES:
        predicted = "medium"
    if asked is None or PRIORITIES.index(asked) <= PRIORITIES.index(predicted):
        return predicted, tuple(flags)
    if OVERRIDE_FLAG in flags:
        # a ticket that tries to give the system orders earns no bonus for asking
        flags.append(f"priority kept at {predicted}")
        return predicted, tuple(flags)
    raised = PRIORITIES[PRIORITIES.index(predicted) + 1]
    flags.append(f"priority raised one step from {predicted} to {raised} at the requester's request")
    return raised, tuple(flags)


def flag_lines(flags: tuple[str, ...]) -> str:
    """The flags as the first lines of the notes staff read."""
    return "\n".join(f"Flag: {f}." for f in flags)
