"""The local analyzer: offline, CPU-only, learns from labelled examples and retrains on corrections.

Chosen by measurement (`bench/eval_triage.py`, 5 seeded splits of the dev data set): word 1-2-gram
TF-IDF (sublinear) plus a small block of urgency cue words, one linear SVM per label with softened
balanced class weights. Against TF-IDF + logistic regression it gains macro-F1 on both labels
(category ~0.32 vs ~0.22, priority ~0.45 vs ~0.37) without losing accuracy; character n-grams,
ComplementNB blends and logistic regression were slower and no better. A ticket that is a near
copy of a labelled one (a corrected ticket retriaged, say) takes that example's labels. Scores
become probabilities through a softmax whose scale is fitted on cross-validated scores. Notes and
skills come from the nearest training examples (cosine similarity on the same TF-IDF vectors), so
they only ever cite what was given.
"""

from __future__ import annotations

import asyncio
import functools
import math
import pickle  # noqa: S403 - only blobs this service wrote itself are ever loaded
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from shared.events import PRIORITIES
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.svm import LinearSVC

from triage.analyzer.base import Analysis, Example, TicketText
from triage.analyzer.screen import adjust_priority, flag_lines, screen
from triage.analyzer.starter import DEFAULT_CATEGORIES, starter_examples
from triage.analyzer.text import (
    clip,
    cue_vector,
    model_input,
    normalise_skill,
    strip_urls,
    summarize,
)

__all__ = [
    "DEFAULT_CATEGORIES",
    "LocalAnalyzer",
    "LocalModel",
    "starter_examples",
    "train",
]

PROVIDER = "local"
FORMAT = 2
STARTER_PREFIX = "starter:"
# Another requester's ticket (a correction): learned from, never quoted to anyone.
TICKET_PREFIX = "ticket:"
# Real history (imports, corrections) outweighs the hand-written starter set once there is any.
STARTER_WEIGHT = 0.5
CUE_WEIGHT = 0.3
SVM_C = 0.5
MAX_SKILLS = 5
MAX_NOTES = 3
MIN_SIMILARITY = 0.08
# Cosine similarity above which a training ticket counts as the same ticket (measured: 0.4).
NEAR_DUPLICATE = 0.4
# Bounds on the stored model when the history grows long (no effect at a few thousand examples).
MAX_FEATURES = 200_000
MAX_CITABLE = 20_000
# Class weights (n / (k * n_c)) ** 0.75: between unweighted and "balanced"; measured to keep
# most of balanced's macro-F1 gain while losing less accuracy on the big classes.
CLASS_WEIGHT_POWER = 0.75
CV_FOLDS = 3
SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
DEFAULT_SCALE = 3.0
NOTE_RESOLUTION_LIMIT = 300


@dataclass(frozen=True)
class _Head:
    """One label's classifier, or a constant when the examples have a single class."""

    classes: tuple[str, ...]
    svm: LinearSVC | None

    def scores(self, x: csr_matrix) -> np.ndarray:
        """One row of scores per input, one column per class."""
        if self.svm is None:
            return np.zeros((x.shape[0], len(self.classes)))
        raw = np.asarray(self.svm.decision_function(x), dtype=float)
        if raw.ndim == 1:  # binary SVM: one margin for the second class
            raw = np.column_stack([-raw, raw]) / 2
        return raw


@dataclass(frozen=True)
class _Features:
    """Ticket text → the sparse feature row the classifiers read."""

    words: TfidfVectorizer

    def transform(self, texts: Sequence[str]) -> tuple[csr_matrix, csr_matrix]:
        """(full features, the TF-IDF part alone, L2-normalised for similarity)."""
        tfidf = self.words.transform(texts)
        cues = csr_matrix(np.array([cue_vector(t) for t in texts], dtype=float) * CUE_WEIGHT)
        return hstack([tfidf, cues]).tocsr(), tfidf.tocsr()


@dataclass(frozen=True)
class _Neighbour:
    """What a note may say about a training example."""

    ref: str | None
    title: str
    category: str
    priority: str
    skills: tuple[str, ...]
    resolution: str | None


@dataclass(frozen=True)
class _Fit:
    """What one training run fitted: the features and one head per label."""

    features: _Features
    category: _Head
    priority: _Head


def _fit(
    texts: Sequence[str], cats: Sequence[str], pris: Sequence[str], weights: np.ndarray
) -> tuple[_Fit, csr_matrix, csr_matrix]:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", max_features=MAX_FEATURES)
    words.fit(texts)
    # The pruned-term set is only kept for introspection and can be large: drop it before pickling.
    words.stop_words_ = None
    features = _Features(words)
    x, tfidf = features.transform(texts)
    return _Fit(features, _head(x, cats, weights), _head(x, pris, weights)), x, tfidf


def _head(x: csr_matrix, labels: Sequence[str], weights: np.ndarray) -> _Head:
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        return _Head(classes=classes, svm=None)
    y = np.asarray(labels)
    names, counts = np.unique(y, return_counts=True)
    balance = (len(y) / (len(names) * counts)) ** CLASS_WEIGHT_POWER
    svm = LinearSVC(C=SVM_C, class_weight={str(n): float(w) for n, w in zip(names, balance, strict=True)})
    svm.fit(x, y, sample_weight=weights)
    # float32 halves the stored size; the scores do not need more precision.
    svm.coef_ = svm.coef_.astype(np.float32)
    return _Head(classes=tuple(str(c) for c in svm.classes_), svm=svm)


def _input(ex: Example) -> str:
    """What the classifiers read for a training example: its text without instructions."""
    screened = screen(ex.title, ex.description)
    return model_input(screened.title, screened.description)


def _softmax(scores: np.ndarray, scale: float) -> np.ndarray:
    z = scores * scale
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _dedupe(examples: Sequence[Example]) -> list[Example]:
    """One example per distinct text; the last one wins (a later correction overrides)."""
    latest: dict[tuple[str, str], Example] = {}
    for ex in examples:
        key = (ex.title.strip().casefold(), ex.description.strip().casefold())
        latest.pop(key, None)
        latest[key] = ex
    return list(latest.values())


@dataclass(frozen=True)
class LocalModel:
    """An immutable trained artefact: classifiers, the example index for notes, and metrics."""

    version: str
    trained_at: datetime
    examples: int
    metrics: dict[str, float]
    _fit: _Fit = field(repr=False)
    _index: csr_matrix = field(repr=False)
    _neighbours: tuple[_Neighbour, ...] = field(repr=False)
    _scale: float = DEFAULT_SCALE
    _descriptions: dict[str, str] = field(default_factory=dict, repr=False)
    # per neighbour: True when it is history (imports, corrections), False for the starter set
    _from_history: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    @functools.cached_property
    def _neighbour_categories(self) -> np.ndarray:
        """Each neighbour's category, as an array (compared once per ticket, not looped over)."""
        return np.array([n.category for n in self._neighbours], dtype=object)

    @property
    def name(self) -> str:
        """The model name decisions are logged with."""
        return f"local-{self.version}"

    def predict(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        """Analyse one ticket; the category is always one of `categories`."""
        return self.predict_many([ticket], categories=categories)[0]

    def predict_many(self, tickets: Sequence[TicketText], *, categories: Sequence[str]) -> list[Analysis]:
        """Analyse several tickets with one pass of each matrix product (same answers as `predict`)."""
        if not categories:
            raise ValueError("categories must not be empty")
        if not tickets:
            return []
        screened = [screen(t.title, t.description) for t in tickets]
        x, tfidf = self._fit.features.transform([model_input(s.title, s.description) for s in screened])
        if self._neighbours:
            sims_rows = np.asarray((self._index @ tfidf.T).toarray()).T
        else:
            sims_rows = np.zeros((len(tickets), 0))
        category_scores = self._fit.category.scores(x)
        priority_head = self._fit.priority
        priority_scores = priority_head.scores(x) if priority_head.svm is not None else None
        allowed = {c.casefold(): c for c in reversed(categories)}
        out: list[Analysis] = []
        for i, screened_one in enumerate(screened):
            sims = np.ascontiguousarray(sims_rows[i])
            ranked = self._category_probs(category_scores[i], allowed)
            twin = self._near_duplicate(sims, allowed)
            priority_row = priority_scores[i] if priority_scores is not None else None
            if twin is not None:
                # A near-copy of a labelled ticket (a corrected one retriaged, say) takes its labels.
                sim, neighbour = twin
                category = allowed[neighbour.category.casefold()]
                confidence = max(dict(ranked).get(category, 0.0), sim)
                predicted = neighbour.priority
            elif ranked:
                category, confidence = ranked[0]
                predicted = self._priority(priority_row)
            else:
                category, confidence = self._by_name(tfidf[i], categories)
                predicted = self._priority(priority_row)
            priority, flags = adjust_priority(predicted, screened_one)
            nearest = self._nearest(sims, category)
            out.append(
                Analysis(
                    category=category,
                    priority=priority,
                    related_skills=self._skills(category, nearest),
                    summary=summarize(screened_one.title, screened_one.description),
                    helpful_notes=self._notes(nearest, flags),
                    confidence=round(min(1.0, max(0.0, confidence)), 4),
                    provider=PROVIDER,
                    model=self.name,
                    flags=flags,
                )
            )
        return out

    def _category_probs(self, scores: np.ndarray, allowed: dict[str, str]) -> list[tuple[str, float]]:
        """Allowed categories the model knows, with probabilities among them, best first."""
        head = self._fit.category
        known = [(i, allowed[c.casefold()]) for i, c in enumerate(head.classes) if c.casefold() in allowed]
        if not known:
            return []
        probs = _softmax(scores[[i for i, _ in known]], self._scale)
        ranked = [(name, float(p)) for (_, name), p in zip(known, probs, strict=True)]
        return sorted(ranked, key=lambda pair: -pair[1])

    def _near_duplicate(self, sims: np.ndarray, allowed: dict[str, str]) -> tuple[float, _Neighbour] | None:
        if sims.size == 0:
            return None
        # Only staff-labelled history may hand its labels on: the starter set is public, so a
        # pasted starter title would otherwise choose the labels.
        labelled = np.where(self._from_history, sims, -1.0) if self._from_history.size else sims
        best = int(np.argmax(labelled))
        neighbour = self._neighbours[best]
        if labelled[best] < NEAR_DUPLICATE or neighbour.category.casefold() not in allowed:
            return None
        return float(sims[best]), neighbour

    def _by_name(self, tfidf: csr_matrix, categories: Sequence[str]) -> tuple[str, float]:
        """No category the model knows is allowed: the one whose name and description fit best."""
        docs = [f"{c} {self._descriptions.get(c.casefold(), '')}" for c in categories]
        _, profiles = self._fit.features.transform(docs)
        sims = np.asarray((profiles @ tfidf.T).toarray()).ravel()
        best = int(np.argmax(sims))
        if sims[best] <= 0:
            return categories[0], round(1 / len(categories), 4)
        # Name overlap is weak evidence: never claim more than an even split would.
        return categories[best], float(min(0.5, sims[best]))

    def _priority(self, scores: np.ndarray | None) -> str:
        """The best-scored known priority; `scores` is None when the head is a constant."""
        head = self._fit.priority
        if head.svm is None or scores is None:
            return head.classes[0] if head.classes and head.classes[0] in PRIORITIES else "medium"
        order = np.argsort(-scores)
        for i in order:
            label = str(head.classes[int(i)])
            if label in PRIORITIES:
                return label
        return "medium"

    def _nearest(self, sims: np.ndarray, category: str) -> list[tuple[float, _Neighbour]]:
        if sims.size == 0:
            return []
        # Examples of the chosen category come first at equal similarity; others still count.
        boosted = sims * np.where(self._neighbour_categories == category, 1.0, 0.85)
        order = np.argsort(-boosted)[: MAX_NOTES * 4]
        return [(float(sims[i]), self._neighbours[i]) for i in order if sims[i] >= MIN_SIMILARITY]

    def _skills(self, category: str, nearest: list[tuple[float, _Neighbour]]) -> tuple[str, ...]:
        weight: dict[str, float] = {}
        # Skills of examples in another category would send the ticket to the wrong people.
        for sim, n in nearest:
            if n.category != category:
                continue
            for skill in n.skills:
                key = normalise_skill(skill)
                if key:
                    weight[key] = weight.get(key, 0.0) + sim
        ranked = sorted(weight, key=lambda k: (-weight[k], k))
        out = [normalise_skill(category)]
        out += [s for s in ranked if s not in out]
        return tuple(s for s in out if s)[:MAX_SKILLS]

    def _notes(self, nearest: list[tuple[float, _Neighbour]], flags: tuple[str, ...]) -> str:
        flagged = [flag_lines(flags)] if flags else []
        # Another requester's ticket is never quoted: the reader may not be allowed to open it.
        citable = [(sim, n) for sim, n in nearest if not (n.ref or "").startswith(TICKET_PREFIX)]
        if not citable:
            return "\n".join([*flagged, "No similar past tickets found; nothing to cite."])
        lines = [*flagged, "Similar past tickets:"]
        for sim, n in citable[:MAX_NOTES]:
            label = n.ref or "example"
            title = clip(strip_urls(n.title), 120)
            head = f'- {label} "{title}" ({n.category}, {n.priority} priority, similarity {sim:.2f})'
            resolution = strip_urls(n.resolution or "")
            if resolution:
                lines.append(f"{head}: resolved by: {clip(resolution, NOTE_RESOLUTION_LIMIT)}")
            else:
                lines.append(f"{head}: no resolution recorded.")
        return "\n".join(lines)

    def to_bytes(self) -> bytes:
        """Serialise the whole model (pickle of sklearn objects; trusted data of this service)."""
        return pickle.dumps({"format": FORMAT, "model": self}, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalModel:
        """Load a model written by `to_bytes` (never feed it bytes from outside the service)."""
        try:
            data: Any = pickle.loads(blob)  # noqa: S301 - written by this service into its own schema
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as exc:
            # e.g. a blob from an older code layout: the caller retrains instead of crashing.
            raise ValueError(f"cannot load local model blob: {type(exc).__name__}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a local model blob of a known format")
        model = data["model"]
        if not isinstance(model, cls):
            raise ValueError("blob does not hold a LocalModel")
        return model


def _cv_metrics(
    texts: list[str], cats: list[str], pris: list[str], weights: np.ndarray, history: np.ndarray
) -> tuple[dict[str, float], float]:
    """Accuracy by cross-validation (on history when there is enough) and the fitted softmax scale."""
    n = len(texts)
    counts = {c: cats.count(c) for c in set(cats)}
    if n < 2 * CV_FOLDS:
        return {"category_accuracy": 0.0, "priority_accuracy": 0.0}, DEFAULT_SCALE
    splitter: KFold | StratifiedKFold
    if min(counts.values()) >= CV_FOLDS:
        splitter = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
    else:
        splitter = KFold(CV_FOLDS, shuffle=True, random_state=0)
    cat_ok = np.zeros(n, dtype=bool)
    pri_ok = np.zeros(n, dtype=bool)
    gold_scores: list[np.ndarray] = []
    gold_index: list[int] = []
    cat_arr, pri_arr = np.asarray(cats), np.asarray(pris)
    for tr, te in splitter.split(texts, cats):
        fit, _, _ = _fit([texts[i] for i in tr], list(cat_arr[tr]), list(pri_arr[tr]), weights[tr])
        x, _ = fit.features.transform([texts[i] for i in te])
        scores = fit.category.scores(x)
        classes = fit.category.classes
        cat_ok[te] = np.asarray(classes)[scores.argmax(axis=1)] == cat_arr[te]
        pscores = fit.priority.scores(x)
        pri_ok[te] = np.asarray(fit.priority.classes)[pscores.argmax(axis=1)] == pri_arr[te]
        if len(classes) > 1:
            for row, i in zip(scores, te, strict=True):
                if cats[i] in classes:
                    gold_scores.append(row)
                    gold_index.append(classes.index(cats[i]))
    mask = history if history.sum() >= 30 else np.ones(n, dtype=bool)
    metrics = {
        "category_accuracy": round(float(cat_ok[mask].mean()), 4),
        "priority_accuracy": round(float(pri_ok[mask].mean()), 4),
    }
    return metrics, _fit_scale(gold_scores, gold_index)


def _fit_scale(rows: list[np.ndarray], gold: list[int]) -> float:
    """The softmax scale (inverse temperature) with the lowest log-loss on held-out scores."""
    if len(rows) < 10:
        return DEFAULT_SCALE
    best, best_loss = DEFAULT_SCALE, math.inf
    for t in SCALES:
        loss = 0.0
        for row, g in zip(rows, gold, strict=True):
            loss -= math.log(max(float(_softmax(row, t)[g]), 1e-12))
        if loss < best_loss:
            best, best_loss = t, loss
    return best


def train(examples: Sequence[Example], *, categories: Sequence[str], version: str | int) -> LocalModel:
    """Fit a model on labelled examples (CPU-heavy, synchronous: run it in a worker thread).

    Examples whose category is not in `categories` or whose priority is unknown are skipped;
    starter examples (ref "starter:...") weigh less once real history exists.
    """
    allowed = {c.casefold(): c for c in categories}
    usable = [ex for ex in _dedupe(examples) if ex.category.casefold() in allowed and ex.priority in PRIORITIES]
    if not usable:
        raise ValueError("no usable examples for these categories")
    history = np.array([not (ex.ref or "").startswith(STARTER_PREFIX) for ex in usable])
    weights = np.where(history, 1.0, STARTER_WEIGHT if history.any() else 1.0)
    texts = [_input(ex) for ex in usable]
    cats = [allowed[ex.category.casefold()] for ex in usable]
    pris = [ex.priority for ex in usable]
    metrics, scale = _cv_metrics(texts, cats, pris, weights, history)
    fit, _, tfidf = _fit(texts, cats, pris, weights)
    # Notes cite the newest examples only, which bounds the stored size with a long history.
    keep = slice(max(0, len(usable) - MAX_CITABLE), len(usable))
    neighbours = tuple(
        _Neighbour(
            ref=ex.ref,
            # another requester's title is not kept where notes could ever quote it
            title="" if (ex.ref or "").startswith(TICKET_PREFIX) else ex.title,
            category=cat,
            priority=ex.priority,
            skills=tuple(ex.skills),
            resolution=ex.resolution,
        )
        for ex, cat in zip(usable[keep], cats[keep], strict=True)
    )
    descriptions = {name.casefold(): desc for name, desc in DEFAULT_CATEGORIES}
    return LocalModel(
        version=str(version),
        trained_at=datetime.now(UTC),
        examples=len(usable),
        metrics=metrics,
        _fit=fit,
        _index=tfidf[keep],
        _neighbours=neighbours,
        _scale=scale,
        _descriptions=descriptions,
        _from_history=history[keep].copy(),
    )


class LocalAnalyzer:
    """The analyzer of a process: holds the current model and swaps in a new one atomically."""

    def __init__(self, model: LocalModel) -> None:
        self._model = model

    @property
    def model(self) -> LocalModel:
        """The model in use."""
        return self._model

    def swap(self, model: LocalModel) -> None:
        """Use `model` from now on (one reference assignment: readers see old or new, whole)."""
        self._model = model

    async def analyze(self, ticket: TicketText, *, categories: Sequence[str]) -> Analysis:
        """Predict in a worker thread so a long ticket never stalls the event loop."""
        model = self._model
        return await asyncio.to_thread(model.predict, ticket, categories=categories)

    async def analyze_many(self, tickets: Sequence[TicketText], *, categories: Sequence[str]) -> list[Analysis]:
        """Predict a batch together in one worker thread (one model for the whole batch)."""
        model = self._model
        return await asyncio.to_thread(model.predict_many, tickets, categories=categories)
