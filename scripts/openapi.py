"""Print the gateway's public OpenAPI document (what GET /openapi.json serves) without a running stack.

    uv run --no-sync python scripts/openapi.py > openapi.json

Builds each service's app in this process (no lifespan, so no database or broker), takes its
`app.openapi()` and merges them with the gateway's own `merge_documents`, the function behind
`/openapi.json`. The web app's types are generated from this (`bash scripts/web.sh types`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

# The document must depend on the code only: not on a developer's .env or exported settings.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def documents() -> dict[str, dict[str, Any]]:
    from auth.app import create_app as auth_app
    from notifier.app import create_app as notifier_app
    from tickets.app import create_app as tickets_app
    from triage.app import create_app as triage_app

    factories = {"auth": auth_app, "tickets": tickets_app, "triage": triage_app, "notifier": notifier_app}
    return {name: factory().openapi() for name, factory in factories.items()}


def main() -> int:
    for name in list(os.environ):
        if name not in _KEEP:
            del os.environ[name]
    os.environ["HELPDESK_ENV_FILE"] = ""
    from gateway.openapi import merge_documents

    # building an app may log (an ephemeral key, say): keep stdout for the document alone
    with contextlib.redirect_stdout(sys.stderr):
        docs = documents()
    merged = merge_documents(docs, missing=[])
    json.dump(merged, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
