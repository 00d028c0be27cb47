"""`make bench`: every benchmark in turn, each printing its own figures.

    uv run python bench/run_all.py [--only gateway,tickets,triage,scaling,mail,million]

`million` (bench/million.py, also `make bench-million`) is not in the default set: it seeds a
million tickets into a stack instance of its own and takes about ten minutes.

Run it on a quiet machine: the figures are throughputs and latencies of real processes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "gateway": ["gateway_bench.py"],
    "tickets": ["tickets_bench.py"],
    "triage": ["triage_bench.py"],
    "scaling": ["triage_scaling.py"],
    "mail": ["mail_latency.py"],
    "million": ["million.py"],
}
DEFAULT = ["gateway", "tickets", "triage", "scaling", "mail"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(DEFAULT), help="comma-separated subset")
    args = parser.parse_args()
    failed = []
    for name in args.only.split(","):
        script, *extra = BENCHES[name]
        print(f"\n===== {name}: bench/{script} =====", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script), *extra])
        print(f"----- {name}: exit {code} after {time.monotonic() - started:.0f}s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
