"""`make bench`: the benchmarks in turn, then one table of the figures that matter.

    uv run python bench/run_all.py [--only tickets,triage,mail,pipeline,gateway,scaling,million] [--quick]

`million` (bench/million.py, also `make bench-million`) is not in the default set: it seeds a
million tickets into a stack instance of its own and takes about ten minutes.

- tickets (bench/tickets_bench.py): a bare one-INSERT endpoint, the tickets service directly
  and the gateway, in turns in the same run, and the ratio gateway / bare;
- triage (bench/triage_bench.py, one worker): tickets triaged per second, and per CPU-second
  of the worker (what it does with a core to itself on a shared machine);
- mail (bench/mail_latency.py): a burst of assignment events drained to the local SMTP sink;
- pipeline (bench/pipeline_bench.py): a whole stack at 100 tickets/s, ticket created → the
  assignee's mail p50/p95, and every process's peak RSS (aim < 150 MB, triage < 300 MB).
`gateway` (auth routes through the gateway) and `scaling` (triage workers 1, 2, 4) run only when
named in --only. Each starts its own processes, databases and vhosts: hold the stack lock
(`flock /tmp/helpdesk-stack.lock make bench`) on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT = "tickets,triage,mail,pipeline"
RSS_LIMIT_MB = 150.0
TRIAGE_RSS_LIMIT_MB = 300.0


def commands(out: Path, quick: bool) -> dict[str, list[str]]:
    return {
        "tickets": [
            "tickets_bench.py",
            "--seconds",
            "4" if quick else "6",
            "--rounds",
            "2" if quick else "3",
            "--rows",
            "2000",
            "--samples",
            "20",
        ],
        "triage": [
            "triage_bench.py",
            "--workers",
            "1",
            "--tickets",
            "400",
            "--paced",
            "60",
            "--json",
            str(out / "triage.json"),
        ],
        "mail": ["mail_latency.py", "--tickets", "1000", "--json", str(out / "mail.json")],
        "pipeline": [
            "pipeline_bench.py",
            "--rate",
            "100",
            "--seconds",
            "6" if quick else "10",
            "--json",
            str(out / "pipeline.json"),
        ],
        "gateway": ["gateway_bench.py"],
        "scaling": ["triage_scaling.py"],
        "million": ["million.py"],
    }


def last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value}{suffix}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def table(out: Path, tickets: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    create = tickets.get("create") or {}
    if create:
        ratio = create.get("ratio_median")
        rows += [
            ("bare insert (requests/s)", fmt(create.get("bare_per_s")), ""),
            ("tickets direct (requests/s)", fmt(create.get("tickets_direct_per_s")), ""),
            ("gateway POST /api/tickets (requests/s)", fmt(create.get("gateway_per_s")), ""),
            (
                "ratio gateway / bare (same run, in turns)",
                fmt(ratio) + verdict(None if ratio is None else ratio >= 0.35),
                ">= 0.35 (aim 0.5)",
            ),
        ]
    triage = load(out / "triage.json")
    if triage:
        t = triage[0]
        rows += [
            ("triage tickets/s, 1 worker (burst)", f"{t['per_second']}{verdict(t['per_second'] >= 200)}", ">= 200"),
            ("triage tickets per worker CPU-second", fmt(t.get("per_cpu_second")), "machine-load independent"),
            ("triage created -> triaged p50 / p95 (ms, paced)", f"{t['p50_ms']} / {t['p95_ms']}", ""),
        ]
    mail = load(out / "mail.json")
    if mail:
        rows += [
            (
                "mails/s to the local sink (burst)",
                f"{mail['mails_per_s']}{verdict(mail['mails_per_s'] >= 200)}",
                ">= 200",
            ),
            ("mails per notifier CPU-second", fmt(mail.get("mails_per_cpu_s")), "machine-load independent"),
            ("duplicate mails in the burst", fmt(mail.get("duplicates")), "0"),
        ]
    pipe = load(out / "pipeline.json")
    if pipe:
        p95 = pipe.get("p95_ms")
        rows += [
            (
                f"created -> assignee's mail p50 / p95 (ms) at {pipe['rate']:.0f}/s",
                f"{fmt(pipe.get('p50_ms'))} / {fmt(p95)}{verdict(None if p95 is None else p95 < 2000)}",
                "p95 < 2000",
            ),
            ("  tickets created / mails missing", f"{pipe['created']} / {pipe['missing']}", "missing 0"),
        ]
        for name, mb in pipe.get("rss_mb", {}).items():
            limit = TRIAGE_RSS_LIMIT_MB if name.startswith("triage") else RSS_LIMIT_MB
            rows.append((f"peak RSS {name} (MB)", f"{mb}{verdict(mb < limit)}", f"< {limit:.0f}"))
    elif triage:
        rss = triage[0]["peak_rss_mb"]
        rows.append(("peak RSS triage worker (MB)", ", ".join(map(str, rss)), f"< {TRIAGE_RSS_LIMIT_MB:.0f}"))
    width = max((len(r[0]) for r in rows), default=10)
    lines = [f"| {'figure':<{width}} | value | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name:<{width}} | {value} | {target} |" for name, value, target in rows]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=DEFAULT, help=f"comma-separated subset (default {DEFAULT}; also: gateway, scaling, million)"
    )
    parser.add_argument("--quick", action="store_true", help="shorter legs")
    parser.add_argument("--out", type=Path, help="keep the JSON figures in this folder")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    benches = commands(out, args.quick)
    failed = []
    tickets: dict[str, Any] = {}
    for name in args.only.split(","):
        script, *extra = benches[name]
        print(f"\n===== {name}: bench/{script} =====", flush=True)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(HERE / script), *extra], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        captured = []
        for line in proc.stdout:
            captured.append(line)
            if not line.startswith("{"):
                print(line, end="", flush=True)
        code = proc.wait()
        if name == "tickets":
            tickets = last_json_line("".join(captured))
        print(f"----- {name}: exit {code} after {time.monotonic() - started:.0f}s", flush=True)
        if code:
            failed.append(name)
    print("\n" + "\n".join(table(out, tickets)))
    print(f"(figures in {out})")
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
