"""Render deploy/rabbitmq/definitions.json from the code's own topology (shared.events, shared.bus).

The broker loads the file at boot: the vhost, one user per service with only the permissions it
needs, the exchanges and the quorum queues with exactly the arguments the services declare (a
queue declared twice with other arguments is refused, so they are generated, never hand-written).
Passwords are `${<NAME>_RABBITMQ_PASSWORD}` placeholders that entrypoint.sh fills in at start.

    uv run python deploy/rabbitmq/render_definitions.py > deploy/rabbitmq/definitions.json
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from shared.bus import dead_letter_queue, queue_arguments
from shared.events import DEAD_LETTER_EXCHANGE, EXCHANGE, TOPOLOGY

VHOST = "helpdesk"
# Users whose processes connect to the broker; each gets its own password and permissions.
SERVICE_USERS = ("auth", "tickets", "triage", "notifier", "gateway")
ADMIN_USER = "helpdesk-admin"
# Read-only user of the management API: KEDA reads the triage queue's length with it.
MONITOR_USER = "monitor"


def _alternatives(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


def definitions() -> dict[str, Any]:
    queues = sorted(TOPOLOGY)
    dlqs = [dead_letter_queue(q) for q in queues]
    exchanges = [EXCHANGE, DEAD_LETTER_EXCHANGE]
    # Every process declares the whole topology at start (so nothing is ever unroutable): it
    # may configure and bind every topology object, and publish to the exchanges. It may read
    # (consume) only its own queue and dead-letter queue; binding needs read on the exchanges.
    topology = _alternatives(exchanges + queues + dlqs)
    # The gateway's private queue (every replica gets every user.updated) is server-named.
    private = r"amq\.gen-.*"

    def read(user: str) -> str:
        own = [user, dead_letter_queue(user)] if user in TOPOLOGY else []
        pattern = _alternatives(exchanges + own)
        return f"{pattern}|^{private}$" if user == "gateway" else pattern

    def configure(user: str) -> str:
        return f"{topology}|^{private}$" if user == "gateway" else topology

    users = [
        {"name": ADMIN_USER, "password": "${ADMIN_RABBITMQ_PASSWORD}",
         "tags": ["administrator"]},
        *(
            {"name": u, "password": f"${{{u.upper()}_RABBITMQ_PASSWORD}}", "tags": []}
            for u in SERVICE_USERS
        ),
        {"name": MONITOR_USER, "password": "${MONITOR_RABBITMQ_PASSWORD}",
         "tags": ["monitoring"]},
    ]
    permissions = [
        {"user": ADMIN_USER, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
        *(
            {"user": u, "vhost": VHOST, "configure": configure(u),
             "write": configure(u), "read": read(u)}
            for u in SERVICE_USERS
        ),
        # vhost access (needed to read queue metrics), but no AMQP rights on any object
        {"user": MONITOR_USER, "vhost": VHOST, "configure": "^$", "write": "^$", "read": "^$"},
    ]
    queue_defs: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for queue in queues:
        queue_defs.append({"name": queue, "vhost": VHOST, "durable": True, "auto_delete": False,
                           "arguments": queue_arguments(queue)})
        queue_defs.append({"name": dead_letter_queue(queue), "vhost": VHOST, "durable": True,
                           "auto_delete": False, "arguments": {"x-queue-type": "quorum"}})
        for key in TOPOLOGY[queue]:
            bindings.append({"source": EXCHANGE, "vhost": VHOST, "destination": queue,
                             "destination_type": "queue", "routing_key": key, "arguments": {}})
        bindings.append({"source": DEAD_LETTER_EXCHANGE, "vhost": VHOST,
                         "destination": dead_letter_queue(queue), "destination_type": "queue",
                         "routing_key": queue, "arguments": {}})
    return {
        "users": users,
        "vhosts": [{"name": VHOST, "default_queue_type": "quorum"}],
        "permissions": permissions,
        "exchanges": [
            {"name": EXCHANGE, "vhost": VHOST, "type": "topic", "durable": True,
             "auto_delete": False, "internal": False, "arguments": {}},
            {"name": DEAD_LETTER_EXCHANGE, "vhost": VHOST, "type": "direct", "durable": True,
             "auto_delete": False, "internal": False, "arguments": {}},
        ],
        "queues": queue_defs,
        "bindings": bindings,
    }


def render() -> str:
    return json.dumps(definitions(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
