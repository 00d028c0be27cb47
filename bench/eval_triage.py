"""Triage quality on the labelled data set beside the repo (`make eval`).

Trains the local analyzer on a fixed, seeded, stratified 80 % of `support-tickets-dev.csv`
through the service's own path (rows -> `Example` objects with the starter set -> `train()`),
predicts the other 20 % ticket by ticket, and prints accuracy and macro-F1 for the category
(queue) and the priority beside a TF-IDF + logistic regression baseline fitted in the same run
on the same split. It also reports how often the assignee chosen from the prediction holds the
gold queue among their skills, with one moderator per queue whose only skill is that queue.

The data set's licence forbids copying it (or a model trained on it) into the repository: it is
only read here, from `../shared/data` beside the repo or from `TRIAGE_EVAL_DATA`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, recall_score
from sklearn.model_selection import train_test_split
from triage.analyzer.base import Example, TicketText
from triage.analyzer.local import DEFAULT_CATEGORIES, LocalModel, starter_examples, train
from triage.analyzer.screen import screen
from triage.assignment import StaffMember, plan

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "support-tickets-dev.csv"
SEED = 42
TEST_SHARE = 0.2


def load(path: Path) -> list[Example]:
    """Rows of the data set as imported examples (the answer is the resolution to cite)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Example(
            title=row["subject"] or "",
            description=row["body"] or "",
            category=row["queue"],
            priority=row["priority"],
            skills=tuple(t for t in (row.get("tags") or "").split("|") if t),
            resolution=row.get("answer") or None,
            ref=f"import:{i}",
        )
        for i, row in enumerate(rows)
    ]


def split(examples: list[Example], seed: int = SEED) -> tuple[list[Example], list[Example]]:
    """The 80/20 split for a seed (SEED: the fixed one), stratified on the queue."""
    idx = np.arange(len(examples))
    tr, te = train_test_split(idx, test_size=TEST_SHARE, random_state=seed, stratify=[e.category for e in examples])
    return [examples[i] for i in tr], [examples[i] for i in te]


QUEUES = [name for name, _ in DEFAULT_CATEGORIES]
CAPACITY = 20  # TRIAGE_MODERATOR_CAPACITY's default
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Routed:
    """What routing needs of one prediction, and what it is scored against."""

    category: str
    skills: tuple[str, ...]
    text: str
    priority: str
    gold: str


def _staff(open_counts: dict[str, int], capacity: int | None) -> list[StaffMember]:
    """One moderator per queue whose only skill is the queue's name, and one admin."""
    mods = [
        StaffMember(
            user_id=uuid.UUID(int=i + 1),
            role="moderator",
            name=q,
            skills=(q,),
            open_count=open_counts.get(q, 0),
            capacity=capacity,
        )
        for i, q in enumerate(QUEUES)
    ]
    admin = StaffMember(
        user_id=uuid.UUID(int=999), role="admin", name="(admin)", skills=(), open_count=0, capacity=None
    )
    return [*mods, admin]


def route(tickets: Sequence[Routed], *, capacity: int | None, overflow: str = "wait") -> dict[str, float]:
    """Route tickets in arrival order through `triage.assignment.plan` and the service's capacity rule.

    Nobody resolves anything while the tickets arrive (the burst of the issue); a ticket whose
    fitting moderators are all full waits for them ("wait") or goes to the least loaded of them
    ("least_loaded"). Afterwards each moderator frees one slot at a time, round robin, and takes
    the waiting ticket they fit that waited longest (high priority first), as the service does.
    """
    open_counts = dict.fromkeys(QUEUES, 0)
    final: list[str | None] = [None] * len(tickets)
    waiting: list[tuple[int, int, frozenset[str]]] = []  # (priority rank, arrival, fitting)
    for i, t in enumerate(tickets):
        steps = plan(skills=t.skills, category=t.category, staff=_staff(open_counts, capacity), text=t.text)
        mods = [s.member for s in steps if s.member.role == "moderator"]
        if not mods:
            final[i] = steps[0].member.name if steps else None
            continue
        free = next((m for m in mods if not m.full), None)
        if free is None and overflow == "least_loaded":
            free = min(mods, key=lambda m: (m.open_count, str(m.user_id)))
        if free is None:
            waiting.append((PRIORITY_RANK.get(t.priority, 1), i, frozenset(m.name for m in mods)))
            continue
        final[i] = free.name
        open_counts[free.name] += 1
    waited = len(waiting)
    while waiting:
        for q in QUEUES:
            fits = [w for w in waiting if q in w[2]]
            if fits:
                pick = min(fits)
                waiting.remove(pick)
                final[pick[1]] = q
    n = len(tickets)
    return {
        "routing": float(np.mean([f == t.gold for f, t in zip(final, tickets, strict=True)])),
        "reached": float(np.mean([f is not None and f in QUEUES for f in final])),
        "waited": waited / n if n else 0.0,
    }


def routed_text(e: Example) -> str:
    """What the service routes on: the ticket's text without sentences addressing the triage."""
    return screen(e.title, e.description).text


def scores(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, float]:
    """Accuracy and macro-F1."""
    return accuracy_score(gold, pred), f1_score(gold, pred, average="macro", zero_division=0)


def high_recall(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of the gold `high` tickets predicted `high` (a missed high costs most)."""
    return float(recall_score(gold, pred, labels=["high"], average="macro", zero_division=0))


def routing_metrics(routed: Sequence[Routed]) -> dict[str, float]:
    """Routing with capacity unlimited and at the default capacity (wait, and least-loaded)."""
    unlimited = route(routed, capacity=None)
    waits = route(routed, capacity=CAPACITY, overflow="wait")
    least = route(routed, capacity=CAPACITY, overflow="least_loaded")
    return {
        "assign": unlimited["routing"], "assign_cap": waits["routing"], "reached_cap": waits["reached"],
        "waited_cap": waits["waited"], "assign_least": least["routing"], "reached_least": least["reached"],
    }  # fmt: skip


def baseline(train_set: list[Example], test_set: list[Example]) -> tuple[list[str], list[str]]:
    """TF-IDF + logistic regression, one model per label, defaults as in the data README."""
    text = [f"{e.title} {e.description}" for e in train_set]
    test = [f"{e.title} {e.description}" for e in test_set]
    vec = TfidfVectorizer()
    x, xt = vec.fit_transform(text), vec.transform(test)
    out = []
    for label in ("category", "priority"):
        clf = LogisticRegression(max_iter=1000)
        clf.fit(x, [getattr(e, label) for e in train_set])
        out.append([str(p) for p in clf.predict(xt)])
    return out[0], out[1]


def run_local(train_set: list[Example], test_set: list[Example], *, with_starter: bool) -> dict[str, float]:
    """Train through `train()`, predict every test ticket, and score it."""
    categories = [name for name, _ in DEFAULT_CATEGORIES]
    examples = (starter_examples() if with_starter else []) + train_set
    started = time.process_time()
    wall = time.perf_counter()
    model = train(examples, categories=categories, version="eval")
    cpu_s, wall_s = time.process_time() - started, time.perf_counter() - wall
    blob = model.to_bytes()
    model = LocalModel.from_bytes(blob)
    t = time.perf_counter()
    preds = [model.predict(TicketText(e.title, e.description), categories=categories) for e in test_set]
    per_ticket_ms = (time.perf_counter() - t) * 1000 / len(test_set)
    cats = [p.category for p in preds]
    pris = [p.priority for p in preds]
    routed = [
        Routed(p.category, p.related_skills, routed_text(e), p.priority, e.category)
        for p, e in zip(preds, test_set, strict=True)
    ]
    ca, cf = scores([e.category for e in test_set], cats)
    pa, pf = scores([e.priority for e in test_set], pris)
    return {
        "cat_acc": ca, "cat_f1": cf, "pri_acc": pa, "pri_f1": pf,
        "high_recall": high_recall([e.priority for e in test_set], pris), **routing_metrics(routed),
        "train_wall_s": wall_s, "train_cpu_s": cpu_s,
        "bytes": float(len(blob)), "predict_ms": per_ticket_ms,
        "cv_cat": model.metrics["category_accuracy"], "cv_pri": model.metrics["priority_accuracy"],
    }  # fmt: skip


METRICS = ("cat_acc", "cat_f1", "pri_acc", "pri_f1", "high_recall", "assign", "assign_cap", "reached_cap")
HEADER = (
    "| model | category acc | category macro-F1 | priority acc | priority macro-F1 | `high` recall "
    f"| routing, capacity unlimited | routing, capacity {CAPACITY} | reached a moderator, capacity {CAPACITY} |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)
NAMES = {
    "baseline": "TF-IDF + logistic regression (baseline)",
    "local": "local analyzer (starter + imported, as served)",
    "history": "local analyzer (imported only)",
}


def evaluate(examples: list[Example], seed: int) -> dict[str, dict[str, float]]:
    """Baseline and local analyzer (with and without the starter set) on one split."""
    train_set, test_set = split(examples, seed)
    base_cat, base_pri = baseline(train_set, test_set)
    gold_cat = [e.category for e in test_set]
    gold_pri = [e.priority for e in test_set]
    bca, bcf = scores(gold_cat, base_cat)
    bpa, bpf = scores(gold_pri, base_pri)
    # the baseline has no skills and no text rules: it is routed on its category alone
    routed = [Routed(c, (), "", p, g) for c, p, g in zip(base_cat, base_pri, gold_cat, strict=True)]
    return {
        "baseline": {"cat_acc": bca, "cat_f1": bcf, "pri_acc": bpa, "pri_f1": bpf,
                     "high_recall": high_recall(gold_pri, base_pri), **routing_metrics(routed)},
        "local": run_local(train_set, test_set, with_starter=True),
        "history": run_local(train_set, test_set, with_starter=False),
    }  # fmt: skip


def table(rows: dict[str, dict[str, float]], spread: dict[str, dict[str, float]] | None = None) -> str:
    """The markdown table of the five numbers per model (with ± spread when given)."""
    lines = [HEADER]
    for key, name in NAMES.items():
        cells = [f"{rows[key][m]:.3f}" + (f" ± {spread[key][m]:.3f}" if spread else "") for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison table; exit 0 with a message when the data set is absent."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1, help="also report mean ± std over this many seeded splits")
    args = parser.parse_args(argv)
    path = Path(os.environ.get("TRIAGE_EVAL_DATA") or DEFAULT_DATA)
    if not path.is_file():
        print(f"eval_triage: data set not found at {path}; nothing to evaluate (set TRIAGE_EVAL_DATA).")
        return 0
    examples = load(path)
    n_test = math.ceil(len(examples) * TEST_SHARE)  # as train_test_split rounds
    print(f"data: {path} ({len(examples)} rows; train {len(examples) - n_test}, test {n_test}, seed {SEED})")

    result = evaluate(examples, SEED)
    local, base = result["local"], result["baseline"]
    print()
    print(table(result))
    print()
    print(
        "routing: triage.assignment.plan with one moderator per queue (skill = the queue's name) and an "
        "admin; correct when the final assignee holds the gold queue. Capacity "
        f"{CAPACITY}: the tickets arrive as one burst, a ticket whose fitting moderators are full waits "
        "for them and goes to the first to free a slot. The baseline is routed on its category alone."
    )
    print(
        f"capacity {CAPACITY}, local analyzer: {local['waited_cap']:.1%} of tickets waited; with "
        f"TRIAGE_OVERFLOW=least_loaded instead: routing {local['assign_least']:.3f}, reached a moderator "
        f"{local['reached_least']:.3f}"
    )
    ratio = local["assign"] / local["cat_acc"] if local["cat_acc"] else 0.0
    print(
        f"routing / category accuracy (capacity unlimited): {ratio:.3f} (target >= 0.9); "
        f"category acc vs baseline {local['cat_acc']:.3f} / {base['cat_acc']:.3f}, "
        f"priority acc vs baseline {local['pri_acc']:.3f} / {base['pri_acc']:.3f}"
    )
    print(
        f"local analyzer: training {local['train_wall_s']:.2f} s wall / {local['train_cpu_s']:.2f} s CPU "
        f"on {len(examples) - n_test + len(starter_examples())} examples (3-fold CV for metrics included), "
        f"model {int(local['bytes']):,} bytes, predict {local['predict_ms']:.2f} ms/ticket, "
        f"CV accuracy on imported examples: category {local['cv_cat']:.3f}, priority {local['cv_pri']:.3f}"
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss_mb:.0f} MB")

    wins_cat = local["cat_f1"] > base["cat_f1"] and local["pri_f1"] >= base["pri_f1"]
    wins_pri = local["pri_f1"] > base["pri_f1"] and local["cat_f1"] >= base["cat_f1"]
    verdict = "beats" if wins_cat or wins_pri else "does NOT beat"
    print(f"verdict: the local analyzer {verdict} the baseline on macro-F1 without losing on the other label")

    if args.repeats > 1:
        runs = [result] + [evaluate(examples, SEED + i) for i in range(1, args.repeats)]
        mean = {k: {m: float(np.mean([r[k][m] for r in runs])) for m in METRICS} for k in NAMES}
        std = {k: {m: float(np.std([r[k][m] for r in runs])) for m in METRICS} for k in NAMES}
        print()
        print(f"mean ± std over {args.repeats} stratified splits (seeds {SEED}..{SEED + args.repeats - 1}):")
        print(table(mean, std))
    return 0


if __name__ == "__main__":
    sys.exit(main())
