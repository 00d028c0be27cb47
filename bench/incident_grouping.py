"""Precision and recall of incident grouping on synthetic bursts mixed into real tickets.

The background is the labelled tickets of `support-tickets-dev.csv` (read from `../shared/data`
beside the repo or `TRIAGE_EVAL_DATA`, never copied), filed one after another at `--rate` an hour;
every one of them is its own problem. Into that stream go synthetic bursts: a few dozen people
reporting one outage in their own words within minutes (paraphrased openings, symptoms, details,
greetings), some bursts about the same system with a different problem at the same time
("confusers"). The grouping is `triage.similarity.group`, the rule triage applies.

Pairwise figures: a pair of tickets is "together" when both are in one incident.
precision = true pairs together / pairs put together; recall = true pairs together / true pairs
(the pairs inside each burst). Also: background tickets wrongly put in an incident.

    uv run --no-sync python bench/incident_grouping.py                 # the defaults
    uv run --no-sync python bench/incident_grouping.py --sweep         # thresholds x windows
    uv run --no-sync python bench/incident_grouping.py --near          # near-identical bursts
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

from triage.settings import TriageSettings
from triage.similarity import Features, features, group

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "support-tickets-dev.csv"

# system, problem, then phrasings of title, symptom sentence and detail sentence
BURSTS: list[dict[str, list[str] | str]] = [
    {
        "system": "vpn",
        "titles": ["VPN not connecting", "Cannot connect to VPN", "VPN down?", "VPN connection fails", "No VPN access"],
        "symptoms": [
            "Since this morning the VPN client will not connect, it times out during authentication.",
            "I cannot connect to the company VPN, the client says authentication timed out.",
            "The VPN keeps failing to connect with a timeout at the login step.",
            "VPN connection attempts time out while authenticating, I cannot reach anything internal.",
        ],
    },
    {
        "system": "vpn",
        "titles": ["VPN very slow", "VPN connection slow", "Slow VPN", "VPN speed terrible"],
        "symptoms": [
            "The VPN connects fine but it is extremely slow, file transfers crawl.",
            "Once connected to the VPN everything is very slow, pages take a minute to load.",
            "VPN throughput dropped badly, downloads over the VPN are painfully slow.",
        ],
    },
    {
        "system": "email",
        "titles": ["Outlook not receiving mail", "No new emails", "Email not arriving", "Mailbox not updating"],
        "symptoms": [
            "Outlook has not received any new email since about 9am, sending still works.",
            "I am not getting any incoming emails, my inbox has not updated for an hour.",
            "No incoming mail is arriving in Outlook, colleagues say their messages were sent.",
            "Incoming email stopped, the inbox shows nothing new although people sent me mail.",
        ],
    },
    {
        "system": "payroll",
        "titles": ["Payroll portal error 500", "Cannot open payslip", "Payroll site broken", "Error on payroll portal"],
        "symptoms": [
            "The payroll portal shows an internal server error 500 when I open my payslip.",
            "Opening the payslip page on the payroll portal gives error 500.",
            "I get a 500 error from the payroll site whenever I try to view my payslip.",
        ],
    },
    {
        "system": "wifi",
        "titles": ["Wi-Fi down in building B", "No wifi on floor 3", "Office wireless not working", "WiFi outage"],
        "symptoms": [
            "The office Wi-Fi in building B is down, laptops see the network but get no IP address.",
            "Wireless network on the third floor of building B is not working, no IP address assigned.",
            "The WiFi in building B connects but never gets an address, no internet at all.",
        ],
    },
    {
        "system": "billing",
        "titles": ["Charged twice this month", "Double charge on my card", "Duplicate payment taken"],
        "symptoms": [
            "My card was charged twice for this month's subscription.",
            "I see two identical charges for the monthly subscription on my statement.",
            "The subscription fee was taken twice from my credit card this month.",
        ],
    },
]
OPENERS = ["", "Hi, ", "Hello team, ", "Dear support, ", "Good morning. ", "Urgent: ", ""]
DETAILS = [
    "I already restarted my laptop.",
    "Tried from home and from the office, same result.",
    "My colleague {name} has the same problem.",
    "This is blocking my work today.",
    "I am on Windows 11, the client is up to date.",
    "It worked yesterday evening.",
    "Please advise what to do.",
    "My employee number is {num}.",
    "",
]
CLOSERS = ["", "Thanks.", "Regards, {name}", "Thank you in advance.", "Best, {name}"]
NAMES = ["Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jon"]


@dataclass(frozen=True)
class Ticket:
    id: uuid.UUID
    filed_at: datetime
    title: str
    description: str
    burst: int | None  # None: a background ticket, its own problem


def _synthetic(rng: random.Random, spec: dict[str, list[str] | str], *, near: bool) -> tuple[str, str]:
    name, num = rng.choice(NAMES), rng.randint(1000, 99999)
    # near: one wording (an outage notice pasted, a form), only greetings and details vary
    title = list(spec["titles"])[0] if near else rng.choice(list(spec["titles"]))
    symptom = list(spec["symptoms"])[0] if near else rng.choice(list(spec["symptoms"]))
    parts = [rng.choice(OPENERS) + symptom]
    for detail in rng.sample(DETAILS, k=rng.randint(0, 2)):
        if detail:
            parts.append(detail.format(name=rng.choice(NAMES), num=num))
    closer = rng.choice(CLOSERS).format(name=name)
    if closer:
        parts.append(closer)
    return title, " ".join(parts)


def load_background(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["subject"] or "", row["body"] or "") for row in csv.DictReader(handle) if row["body"]]


def stream(
    background: list[tuple[str, str]],
    *,
    seed: int,
    rate_per_hour: float,
    bursts: int,
    burst_size: tuple[int, int],
    near: bool = False,
) -> list[Ticket]:
    """Background tickets at a steady rate, bursts at random moments (each within two minutes)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    gap = 3600.0 / rate_per_hour
    tickets = [
        Ticket(uuid.UUID(int=rng.getrandbits(128)), start + timedelta(seconds=i * gap), t, d, None)
        for i, (t, d) in enumerate(background)
    ]
    span = len(background) * gap
    rounds = -(-bursts // len(BURSTS))
    for b in range(bursts):
        spec = BURSTS[b % len(BURSTS)]
        # the same kind of outage again is another problem: its rounds lie hours apart
        slot = span / rounds
        at = (b // len(BURSTS)) * slot + rng.uniform(0, slot / 2)
        # confusers: the vpn "slow" burst starts within minutes of the vpn "down" one
        if b % len(BURSTS) == 1:
            at = (tickets[-1].filed_at - start).total_seconds() - rng.uniform(0, 120)
        size = rng.randint(*burst_size)
        for _ in range(size):
            title, description = _synthetic(rng, spec, near=near)
            filed = start + timedelta(seconds=at + rng.uniform(0, 120))
            tickets.append(Ticket(uuid.UUID(int=rng.getrandbits(128)), filed, title, description, b))
    tickets.sort(key=lambda t: (t.filed_at, t.id))
    return tickets


@dataclass(frozen=True)
class Figures:
    precision: float
    recall: float
    background_grouped: int
    background: int
    incidents: int
    bursts: int

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def measure(tickets: list[Ticket], feats: dict[uuid.UUID, Features], *, threshold: float, window_s: float) -> Figures:
    incident_of = group([(t.id, t.filed_at, feats[t.id]) for t in tickets], threshold=threshold, window_s=window_s)
    members: dict[uuid.UUID, list[Ticket]] = defaultdict(list)
    for t in tickets:
        if t.id in incident_of:
            members[incident_of[t.id]].append(t)
    predicted = sum(len(m) * (len(m) - 1) // 2 for m in members.values())
    correct = sum(
        1 for m in members.values() for a, b in combinations(m, 2) if a.burst is not None and a.burst == b.burst
    )
    by_burst: dict[int, int] = defaultdict(int)
    for t in tickets:
        if t.burst is not None:
            by_burst[t.burst] += 1
    truth = sum(n * (n - 1) // 2 for n in by_burst.values())
    background = [t for t in tickets if t.burst is None]
    return Figures(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / truth if truth else 1.0,
        background_grouped=sum(1 for t in background if t.id in incident_of),
        background=len(background),
        incidents=len(members),
        bursts=len(by_burst),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TRIAGE_EVAL_DATA", DEFAULT_DATA)))
    parser.add_argument("--rate", type=float, default=60.0, help="background tickets an hour")
    parser.add_argument("--bursts", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="thresholds x windows instead of the defaults")
    parser.add_argument("--near", action="store_true", help="near-identical bursts (one wording each)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"no data at {args.data} (set TRIAGE_EVAL_DATA)", file=sys.stderr)
        return 2
    background = load_background(args.data)
    settings = TriageSettings()
    runs = [
        stream(background, seed=seed, rate_per_hour=args.rate, bursts=args.bursts, burst_size=(5, 40), near=args.near)
        for seed in range(args.seeds)
    ]
    feats = [{t.id: features(t.title, t.description) for t in run} for run in runs]
    if args.sweep:
        grid = [(th, w) for w in (600.0, 1800.0, 3600.0) for th in (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)]
    else:
        grid = [(settings.incident_threshold, settings.incident_window_s)]
    print(
        f"{len(background)} background tickets at {args.rate:g}/h, {args.bursts} bursts of 5..40 "
        f"(every 6th a confuser on the same system), {'near-identical' if args.near else 'paraphrased'}, "
        f"{args.seeds} seeds"
    )
    print("threshold  window_s  precision  recall    f1     background_grouped  incidents/bursts")
    for threshold, window in grid:
        figs = [measure(run, f, threshold=threshold, window_s=window) for run, f in zip(runs, feats, strict=True)]
        p = sum(f.precision for f in figs) / len(figs)
        r = sum(f.recall for f in figs) / len(figs)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        wrong = sum(f.background_grouped for f in figs)
        total = sum(f.background for f in figs)
        inc = sum(f.incidents for f in figs)
        bursts = sum(f.bursts for f in figs)
        print(
            f"{threshold:9.2f}  {window:8.0f}  {p:9.3f}  {r:6.3f}  {f1:6.3f}  "
            f"{wrong:6d}/{total} ({wrong / total:.2%})  {inc}/{bursts}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
