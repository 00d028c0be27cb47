"""Schemathesis against the gateway's OpenAPI document, with a token for each role."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import World

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth"


@pytest.mark.timeout(400)
@pytest.mark.parametrize("who", ["anonymous", "alice", "mod", "admin"])
def test_no_5xx_no_schema_violation_no_ignored_auth(world: World, who: str, tmp_path: Path) -> None:
    person = world.people()[who]
    cmd = [
        sys.executable,
        str(Path(__file__).with_name("schemathesis_cli.py")),
        "run",
        f"{world.stack.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        "25",
        "--seed",
        "20261127",
        "--no-color",
        "--exclude-path-regex",
        "^/api/auth/login$",  # throttling makes repeated logins 429 by design
        "--request-timeout",
        "10",
        "--workers",
        "2",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    if person:
        cmd += ["--header", f"Authorization: Bearer {person.token}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=380, check=False)
    summary = result.stdout[-4000:]
    print(summary)
    out = Path(world.stack.var) / f"schemathesis-{who}.txt"
    out.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"schemathesis found failures for {who}; see {out}"
