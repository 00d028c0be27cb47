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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from triage.analyzer.base import Example, TicketText
from triage.analyzer.local import DEFAULT_CATEGORIES, LocalModel, starter_examples, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "support-tickets-dev.csv"
SEED = 42
TEST_SHARE = 0.2

Assign = Callable[[str, Sequence[str], str], str | None]


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


def assigner() -> tuple[Assign, str]:
    """Who gets a ticket: the service's own assignment when importable, else a plain rule."""
    queues = [name for name, _ in DEFAULT_CATEGORIES]
    try:
        from triage.assignment import StaffMember, plan
    except ImportError:

        def simple(category: str, skills: Sequence[str], text: str) -> str | None:
            return category if category in queues else None

        return simple, "simple rule: the moderator whose skills contain the predicted category"
    staff = [
        StaffMember(
            user_id=uuid.UUID(int=i + 1),
            role="moderator",
            name=q,
            skills=(q,),
            open_count=0,
            capacity=None,
        )
        for i, q in enumerate(queues)
    ]

    def service(category: str, skills: Sequence[str], text: str) -> str | None:
        attempts = plan(skills=skills, category=category, staff=staff, text=text)
        return attempts[0].member.name if attempts else None

    return service, "triage.assignment.plan (skills + category), one moderator per queue"


def routed_text(e: Example) -> str:
    """What the service routes on: the ticket's text without sentences addressing the triage."""
    try:
        from triage.analyzer.screen import screen
    except ImportError:
        return ""
    return screen(e.title, e.description).text


def scores(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, float]:
    """Accuracy and macro-F1."""
    return accuracy_score(gold, pred), f1_score(gold, pred, average="macro", zero_division=0)


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


def run_local(
    train_set: list[Example], test_set: list[Example], *, with_starter: bool, assign: Assign
) -> dict[str, float]:
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
    hit = [
        assign(p.category, p.related_skills, routed_text(e)) == e.category
        for p, e in zip(preds, test_set, strict=True)
    ]
    ca, cf = scores([e.category for e in test_set], cats)
    pa, pf = scores([e.priority for e in test_set], pris)
    return {
        "cat_acc": ca, "cat_f1": cf, "pri_acc": pa, "pri_f1": pf,
        "assign": float(np.mean(hit)), "train_wall_s": wall_s, "train_cpu_s": cpu_s,
        "bytes": float(len(blob)), "predict_ms": per_ticket_ms,
        "cv_cat": model.metrics["category_accuracy"], "cv_pri": model.metrics["priority_accuracy"],
    }  # fmt: skip


METRICS = ("cat_acc", "cat_f1", "pri_acc", "pri_f1", "assign")
HEADER = (
    "| model | category acc | category macro-F1 | priority acc | priority macro-F1 | assignee has gold queue |\n"
    "|---|---:|---:|---:|---:|---:|"
)
NAMES = {
    "baseline": "TF-IDF + logistic regression (baseline)",
    "local": "local analyzer (starter + imported, as served)",
    "history": "local analyzer (imported only)",
}


def evaluate(examples: list[Example], seed: int, assign: Assign) -> dict[str, dict[str, float]]:
    """Baseline and local analyzer (with and without the starter set) on one split."""
    train_set, test_set = split(examples, seed)
    base_cat, base_pri = baseline(train_set, test_set)
    gold_cat = [e.category for e in test_set]
    bca, bcf = scores(gold_cat, base_cat)
    bpa, bpf = scores([e.priority for e in test_set], base_pri)
    base_assign = float(np.mean([assign(c, (), "") == g for c, g in zip(base_cat, gold_cat, strict=True)]))
    return {
        "baseline": {"cat_acc": bca, "cat_f1": bcf, "pri_acc": bpa, "pri_f1": bpf, "assign": base_assign},
        "local": run_local(train_set, test_set, with_starter=True, assign=assign),
        "history": run_local(train_set, test_set, with_starter=False, assign=assign),
    }


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
    assign, how = assigner()
    n_test = math.ceil(len(examples) * TEST_SHARE)  # as train_test_split rounds
    print(f"data: {path} ({len(examples)} rows; train {len(examples) - n_test}, test {n_test}, seed {SEED})")

    result = evaluate(examples, SEED, assign)
    local, base = result["local"], result["baseline"]
    print()
    print(table(result))
    print()
    print(f"assignment: {how}; the baseline has no skills, so it is assigned on its category alone")
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
        runs = [result] + [evaluate(examples, SEED + i, assign) for i in range(1, args.repeats)]
        mean = {k: {m: float(np.mean([r[k][m] for r in runs])) for m in METRICS} for k in NAMES}
        std = {k: {m: float(np.std([r[k][m] for r in runs])) for m in METRICS} for k in NAMES}
        print()
        print(f"mean ± std over {args.repeats} stratified splits (seeds {SEED}..{SEED + args.repeats - 1}):")
        print(table(mean, std))
    return 0


if __name__ == "__main__":
    sys.exit(main())
