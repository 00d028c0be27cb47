"""Operators' view of the dead letters of every service: list them, replay them all.

    uv run python scripts/dead_letters.py                # list the open ones (make dead-letters)
    uv run python scripts/dead_letters.py --replay       # replay them all (make replay-dead-letters)

Talks to the gateway of an instance (default: `make up`'s) as the bootstrap admin of its .env.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import Instance, read_env_file  # noqa: E402

OWNERS = ("tickets", "triage", "notifier")


def call(base: str, method: str, path: str, token: str | None = None, body: object = None) -> object:
    request = urllib.request.Request(  # noqa: S310 - http to our own gateway
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own gateway
        return json.loads(response.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", action="store_true", help="replay every open dead letter")
    parser.add_argument("--instance", default=os.environ.get("STACK_INSTANCE", "default"))
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("STACK_PORT_OFFSET", "0")))
    args = parser.parse_args()
    instance = Instance(args.instance, args.port_offset)
    env = {**read_env_file(instance.env_file), **os.environ}
    base = f"http://127.0.0.1:{int(env.get('GATEWAY_PORT', '8000')) + args.port_offset}"
    try:
        login = call(
            base,
            "POST",
            "/api/auth/login",
            body={"email": env["BOOTSTRAP_ADMIN_EMAIL"], "password": env["BOOTSTRAP_ADMIN_PASSWORD"]},
        )
    except (KeyError, urllib.error.URLError) as exc:
        sys.exit(f"cannot sign in as the bootstrap admin at {base}: {exc}")
    token = str(login["token"])  # type: ignore[index]
    total = 0
    for service in OWNERS:
        page = call(base, "GET", f"/api/dead-letters/{service}?status=open&limit=500", token)
        items = page["items"]  # type: ignore[index]
        total += len(items)
        print(f"{service:9} {len(items)} open")
        for item in items:
            print(f"  {item['id']}  {item['event_type']:28} x{item['count']}  {item['error'][:90]}")
        if args.replay and items:
            replayed = call(base, "POST", f"/api/dead-letters/{service}/replay", token)
            print(f"  replayed {replayed['replayed']}")  # type: ignore[index]
    if not args.replay and total:
        print(
            "replay them all with `make replay-dead-letters`, or one by one / discard with a reason"
            " through /api/dead-letters/<service>/<id>/replay|discard"
        )


if __name__ == "__main__":
    main()
