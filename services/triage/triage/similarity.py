"""How alike two tickets read: the text features incident detection compares, and the grouping rule.

The features are the local analyzer's input (`text.model_input`: the cleaned title and description)
cut into the word unigrams and bigrams its TF-IDF reads, without the stop words and without IDF
weights: those come from the trained model, and a grouping must not change when the model does
(same inputs, same incident). Weights are sublinear (1 + log tf), as in the analyzer.

Pure functions, no I/O: `bench/incident_grouping.py` measures exactly what triage runs.
`TermColumns` and `cosines` compare many tickets at once (one sparse product): a prefilter whose
scores are within `COSINE_TOLERANCE` of `similarity`; the decision itself stays `similarity`'s.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from triage.analyzer.text import model_input, strip_urls

_WORD = re.compile(r"[a-z0-9][a-z0-9'_-]*[a-z0-9]|[a-z0-9]")
_PLACEHOLDER = re.compile(r"<[a-z_]{2,20}>", re.IGNORECASE)
# greetings and courtesy words say nothing about the problem; they only make unrelated tickets meet
_NOISE = frozenset(ENGLISH_STOP_WORDS) | frozenset(
    "hi hello dear team support regards thanks thank kind best please help assist issue problem "
    "request regarding hope soon possible appreciate".split()
)
# at most this many words of a ticket are read: a pasted log must not dominate
MAX_WORDS = 400


@dataclass(frozen=True, slots=True)
class Features:
    """A ticket's weighted terms and their norm."""

    weights: Mapping[str, float]
    norm: float

    def shared(self, other: Features, limit: int = 5) -> list[str]:
        """The terms both share, heaviest first (what a reason names)."""
        common = [t for t in self.weights if t in other.weights and " " not in t]
        common.sort(key=lambda t: (-(self.weights[t] * other.weights[t]), t))
        return common[:limit]


def words(title: str, description: str) -> list[str]:
    """The problem-bearing words of a ticket, in order (links, placeholders and noise removed)."""
    text = _PLACEHOLDER.sub(" ", strip_urls(model_input(title, description))).casefold()
    return [w for w in _WORD.findall(text) if w not in _NOISE][:MAX_WORDS]


def features(title: str, description: str) -> Features:
    """Unigrams and bigrams of `words`, weighted 1 + log(count)."""
    seq = words(title, description)
    counts = Counter(seq)
    counts.update(f"{a} {b}" for a, b in zip(seq, seq[1:], strict=False))
    weights = {term: 1.0 + math.log(n) for term, n in counts.items()}
    return Features(weights=weights, norm=math.sqrt(sum(w * w for w in weights.values())))


def similarity(a: Features, b: Features) -> float:
    """Cosine of the two term vectors, 0..1 (0 when either is empty)."""
    if not a.norm or not b.norm:
        return 0.0
    small, large = (a, b) if len(a.weights) <= len(b.weights) else (b, a)
    dot = sum(w * large.weights.get(t, 0.0) for t, w in small.weights.items())
    return max(0.0, min(1.0, dot / (a.norm * b.norm)))


# |cosines(...) - similarity(...)| stays far below this: at most ~800 terms of weight <= 1 summed
# in another order (~1e-13 at worst); the exact function decides whatever lies this close to a limit
COSINE_TOLERANCE = 1e-12

Vector = tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]


class TermColumns:
    """A column number for every term seen (per process): the space `cosines` multiplies in."""

    def __init__(self) -> None:
        self._columns: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._columns)

    def clear(self) -> None:
        """Forget every column (vectors made before are then meaningless)."""
        self._columns.clear()

    def vector(self, feats: Features) -> Vector:
        """The features as a unit vector: (columns, weights / norm); empty without a norm."""
        if not feats.norm:
            return np.empty(0, np.int32), np.empty(0, np.float64)
        columns = self._columns
        index = np.fromiter(
            (columns.setdefault(t, len(columns)) for t in feats.weights), np.int32, count=len(feats.weights)
        )
        weights = np.fromiter(feats.weights.values(), np.float64, count=len(feats.weights)) / feats.norm
        return index, weights


def _rows(vectors: Sequence[Vector], width: int) -> csr_matrix:
    indptr = np.zeros(len(vectors) + 1, np.int32)
    np.cumsum([len(index) for index, _ in vectors], out=indptr[1:])
    if indptr[-1]:
        index = np.concatenate([i for i, _ in vectors])
        data = np.concatenate([w for _, w in vectors])
    else:
        index, data = np.empty(0, np.int32), np.empty(0, np.float64)
    return csr_matrix((data, index, indptr), shape=(len(vectors), width))


def cosines(rows: Sequence[Vector], columns: Sequence[Vector], width: int) -> npt.NDArray[np.float64]:
    """Every row's cosine with every column (one sparse product), clipped to 0..1 as `similarity`."""
    if not rows or not columns:
        return np.zeros((len(rows), len(columns)))
    product: npt.NDArray[np.float64] = (_rows(rows, width) @ _rows(columns, width).T).toarray()
    return np.clip(product, 0.0, 1.0, out=product)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent open ticket a new one may join: its id, when it was filed, its incident if any."""

    ticket_id: uuid.UUID
    filed_at: datetime
    features: Features
    incident_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """The candidate a new ticket is most like, at or above the threshold."""

    candidate: Candidate
    similarity: float
    shared: tuple[str, ...]


def best_match(
    new: Features,
    candidates: Iterable[Candidate],
    *,
    threshold: float,
    excluded_incidents: frozenset[uuid.UUID] = frozenset(),
) -> Match | None:
    """The most similar candidate at or above `threshold`, None when there is none.

    Deterministic: ties go to the earlier-filed ticket, then the smaller id, whatever order the
    candidates come in. Candidates in an incident the ticket was detached from do not count.
    (Comparing with an incident's centroid instead measured no better: bench/incident_grouping.py.)
    """
    best: tuple[tuple[float, datetime, uuid.UUID], Candidate, float] | None = None
    for candidate in candidates:
        if candidate.incident_id is not None and candidate.incident_id in excluded_incidents:
            continue
        score = similarity(new, candidate.features)
        if score < threshold:
            continue
        key = (-round(score, 9), candidate.filed_at, candidate.ticket_id)
        if best is None or key < best[0]:
            best = (key, candidate, score)
    if best is None:
        return None
    return Match(candidate=best[1], similarity=best[2], shared=tuple(new.shared(best[1].features)))


def incident_id_for(anchor_ticket_id: uuid.UUID) -> uuid.UUID:
    """The incident a burst opened by `anchor_ticket_id` gets: the same on every replay."""
    return uuid.uuid5(_NAMESPACE, str(anchor_ticket_id))


_NAMESPACE = uuid.UUID("5d0f3c3e-6b7a-4f43-9a55-1a2c0c1e4d18")


def group(
    tickets: Sequence[tuple[uuid.UUID, datetime, Features]],
    *,
    threshold: float,
    window_s: float,
) -> dict[uuid.UUID, uuid.UUID]:
    """Offline replay of detection over tickets in filing order: ticket id -> incident id.

    The same rule triage applies one ticket at a time (every earlier ticket of the window is
    open): a ticket joins its best match's incident, or opens one with it.
    """
    incident_of: dict[uuid.UUID, uuid.UUID] = {}
    recent: list[Candidate] = []
    for ticket_id, filed_at, feats in tickets:
        recent = [c for c in recent if (filed_at - c.filed_at).total_seconds() <= window_s]
        window = [
            Candidate(
                ticket_id=c.ticket_id,
                filed_at=c.filed_at,
                features=c.features,
                incident_id=incident_of.get(c.ticket_id),
            )
            for c in recent
        ]
        match = best_match(feats, window, threshold=threshold)
        if match is not None:
            anchor = match.candidate
            incident = anchor.incident_id or incident_id_for(anchor.ticket_id)
            incident_of.setdefault(anchor.ticket_id, incident)
            incident_of[ticket_id] = incident
        recent.append(Candidate(ticket_id=ticket_id, filed_at=filed_at, features=feats))
    return incident_of
