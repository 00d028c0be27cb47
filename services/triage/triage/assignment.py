"""Who gets a ticket: deterministic scoring of skills against the staff directory, never the model.

`plan()` orders the people to try. The service then takes a workload slot atomically on each in
turn (a conditional UPDATE), so two tickets triaged at once cannot both take a moderator's last
slot; whoever is tried and found full is skipped and the reason says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.events import StaffRole

from triage.skills import mentions, normalise, text_terms, words

EXACT = 1.0
PARTIAL = 0.5
CATEGORY_WEIGHT = 1.5
# A skill of the moderator's written in the ticket itself (after instructions were removed).
MENTION = 1.0
# Learned from history: each net solved ticket of the category adds this much, up to the cap;
# below the minimum it is anecdote, not evidence.
HISTORY_PER = 0.25
HISTORY_MAX = 2.0
HISTORY_MIN = 2
HISTORY_DAYS = 30


@dataclass(frozen=True)
class Track:
    """One moderator's record with one category over the last HISTORY_DAYS days."""

    resolved: int = 0
    reopened: int = 0
    taken: int = 0  # staff assigned such a ticket to them by hand
    handed_off: int = 0  # staff took such a ticket away from them

    @property
    def net(self) -> int:
        """Evidence that they solve this kind of ticket: good outcomes minus bad ones."""
        return self.resolved + self.taken - self.reopened - self.handed_off

    def describe(self) -> str:
        """The evidence in words, e.g. "resolved 14 similar tickets in 30 days"."""
        parts = [f"resolved {self.resolved} similar ticket{'s' if self.resolved != 1 else ''}"]
        if self.taken:
            parts.append(f"given {self.taken} by staff")
        if self.reopened:
            parts.append(f"{self.reopened} reopened")
        if self.handed_off:
            parts.append(f"{self.handed_off} reassigned away")
        return ", ".join(parts) + f" in {HISTORY_DAYS} days"


Role = StaffRole


@dataclass(frozen=True)
class StaffMember:
    """One moderator or admin as the directory knows them."""

    user_id: UUID
    role: Role
    name: str
    skills: tuple[str, ...]
    open_count: int
    capacity: int | None  # None: no limit (admins, the fallback of last resort)

    @property
    def full(self) -> bool:
        """True when the moderator has no free slot left."""
        return self.capacity is not None and self.open_count >= self.capacity


@dataclass(frozen=True)
class Candidate:
    """A moderator whose skills match the ticket, with the score and what matched."""

    member: StaffMember
    score: float
    matched: tuple[str, ...]
    mentioned: tuple[str, ...] = ()
    track: Track | None = None


@dataclass(frozen=True)
class Attempt:
    """One person to try, in order, with the reason to record if the slot is taken."""

    member: StaffMember
    reason: str
    matched: tuple[str, ...] = ()
    score: float = 0.0


def _match(wanted: str, have: Sequence[str]) -> tuple[float, str | None]:
    """Best match of one wanted skill among a member's skills: exact canonical form or shared words."""
    key = normalise(wanted)
    if not key:
        return 0.0, None
    want_words = words(wanted)
    best, label = 0.0, None
    for skill in have:
        if normalise(skill) == key:
            return EXACT, skill
        have_words = words(skill)
        if want_words and have_words:
            shared = len(want_words & have_words) / min(len(want_words), len(have_words))
            if shared * PARTIAL > best:
                best, label = shared * PARTIAL, skill
    return best, label


def score(
    *,
    skills: Sequence[str],
    category: str | None,
    member: StaffMember,
    terms: frozenset[str] = frozenset(),
    track: Track | None = None,
) -> Candidate:
    """Score a member: each ticket skill adds 1 (exact) or up to 0.5 (shared words); the category 1.5x;
    each of the member's skills written in the ticket (`terms`, see `skills.text_terms`) adds 1;
    a record of solving this category (`track`) adds 0.25 per net ticket, up to 2."""
    total = 0.0
    if track is not None and track.net >= HISTORY_MIN:
        total += min(HISTORY_MAX, HISTORY_PER * track.net)
    else:
        track = None
    matched: list[str] = []
    mentioned: list[str] = []
    if terms:
        keys: set[str] = set()
        for skill in member.skills:
            key = normalise(skill)
            if key not in keys and mentions(terms, skill):
                keys.add(key)
                mentioned.append(skill)
                total += MENTION
    seen: set[str] = set()
    for skill in skills:
        key = normalise(skill)
        if not key or key in seen:
            continue
        seen.add(key)
        value, label = _match(skill, member.skills)
        if value > 0 and label is not None:
            total += value
            if label not in matched:  # two ticket skills may land on one of the member's
                matched.append(label)
    if category:
        value, label = _match(category, member.skills)
        if value > 0 and label is not None:
            total += value * CATEGORY_WEIGHT
            if label not in matched:
                matched.append(label)
    return Candidate(
        member=member,
        score=round(total, 4),
        matched=tuple(matched),
        mentioned=tuple(mentioned),
        track=track,
    )


def rank_moderators(
    *,
    skills: Sequence[str],
    category: str | None,
    staff: Iterable[StaffMember],
    terms: frozenset[str] = frozenset(),
    history: Mapping[UUID, Track] | None = None,
) -> list[Candidate]:
    """Moderators with any match, best score first, then lower open workload, then id."""
    history = history or {}
    cands = [
        score(skills=skills, category=category, member=m, terms=terms, track=history.get(m.user_id))
        for m in staff
        if m.role == "moderator"
    ]
    cands = [c for c in cands if c.score > 0]
    cands.sort(key=lambda c: (-c.score, c.member.open_count, str(c.member.user_id)))
    return cands


def rank_admins(staff: Iterable[StaffMember]) -> list[StaffMember]:
    """Admins, least loaded first (ties by id, so the choice is deterministic)."""
    admins = [m for m in staff if m.role == "admin"]
    admins.sort(key=lambda m: (m.open_count, str(m.user_id)))
    return admins


def _load(member: StaffMember) -> str:
    if member.capacity is None:
        return f"{member.open_count} open"
    return f"{member.open_count} of {member.capacity} open"


def _wanted(skills: Sequence[str], category: str | None) -> str:
    parts = list(skills)
    if category:
        parts.append(f"category {category}")
    return ", ".join(parts) if parts else "nothing (no skills, no category)"


def _evidence(cand: Candidate) -> str:
    parts = []
    if cand.mentioned:
        parts.append(f"ticket mentions {', '.join(cand.mentioned)}")
    if cand.matched:
        parts.append(f"skills matched {', '.join(cand.matched)}")
    if cand.track is not None:
        parts.append(cand.track.describe())
    return "; ".join(parts)


def plan(
    *,
    skills: Sequence[str],
    category: str | None,
    staff: Sequence[StaffMember],
    text: str = "",
    history: Mapping[UUID, Track] | None = None,
) -> list[Attempt]:
    """The ordered list of people to try, each with the reason that applies if they take it.

    `text` is what the ticket says once instructions to the triage are removed: a moderator's
    skill written there counts as evidence beside the analyzer's skills and category, and so
    does `history`: each moderator's record with the ticket's category (see `Track`).
    """
    attempts: list[Attempt] = []
    terms = text_terms(text) if text else frozenset()
    cands = rank_moderators(skills=skills, category=category, staff=staff, terms=terms, history=history)
    skipped: list[str] = []
    for cand in cands:
        m = cand.member
        reason = f"{_evidence(cand)} (score {cand.score:g}); {m.name} had {_load(m)}"
        if skipped:
            reason += f"; better matches at capacity: {', '.join(skipped)}"
        attempts.append(Attempt(member=m, reason=reason, matched=cand.mentioned + cand.matched, score=cand.score))
        skipped.append(m.name)
    if cands:
        # someone fits: when they are all full the ticket waits for them (or overflows to the
        # least loaded of them), it never goes to an admin or a generic-word match
        return attempts
    for admin in rank_admins(staff):
        why = f"no moderator's skills match {_wanted(skills, category)}"
        reason = f"{why}; least loaded admin {admin.name} ({_load(admin)})"
        attempts.append(Attempt(member=admin, reason=reason))
    return attempts


def waiting_reason(fitting: Sequence[Attempt]) -> str:
    """Why a ticket waits: who fits, how full they are, and what happens next."""
    who = "; ".join(f"{a.member.name} {_load(a.member)}" for a in fitting[:5])
    more = f" and {len(fitting) - 5} more" if len(fitting) > 5 else ""
    first = fitting[0].reason.split(" (score")[0]
    return (
        f"waiting for a free slot: {first}, but every moderator who fits is at capacity "
        f"({who}{more}); the first of them to free a slot gets it"
    )


def nobody_reason(*, staff: Sequence[StaffMember], skills: Sequence[str], category: str | None) -> str:
    """Why nobody could take the ticket, in words an admin can act on."""
    if not staff:
        return "no moderator or admin is known to triage yet; assign it by hand"
    if not any(m.role == "admin" for m in staff):
        return (
            f"no moderator with a free slot matches {_wanted(skills, category)} "
            "and there is no admin to fall back on; assign it by hand"
        )
    return "every candidate was at capacity; assign it by hand"
