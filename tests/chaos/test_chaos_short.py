"""The short chaos run (about 1,000 tickets, one broker outage, one triage kill) as a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).with_name("run.py")


@pytest.mark.timeout(600)
def test_short_chaos_run_loses_nothing_and_duplicates_nothing():
    result = subprocess.run(
        [sys.executable, str(RUN), "--tickets", "1000"],
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    print(result.stdout[-6000:])
    print(result.stderr[-3000:], file=sys.stderr)
    assert result.returncode == 0, "the chaos check failed; its table is printed above"
    assert "| lost | 0 |" in result.stdout
    assert "| duplicated (mails) | 0 |" in result.stdout
    assert "| unexpected (tickets) | 0 |" in result.stdout
