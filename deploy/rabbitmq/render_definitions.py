"""Render deploy/rabbitmq/definitions.json from the code's own topology (shared.events, shared.bus).

The broker loads the file at boot: the vhost, one user per service with only the permissions it
needs (shared.broker_access: its own queues; publishing only the routing keys it owns), the
exchanges and the quorum queues with exactly the arguments the services declare (a queue
declared twice with other arguments is refused, so they are generated, never hand-written).
Passwords are `${<NAME>_RABBITMQ_PASSWORD}` placeholders that entrypoint.sh fills in at start.

    uv run python deploy/rabbitmq/render_definitions.py > deploy/rabbitmq/definitions.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from shared.broker_access import SERVICE_USERS, service_access
from shared.bus import dead_letter_queue, queue_arguments
from shared.events import DEAD_LETTER_EXCHANGE, EXCHANGE, TOPOLOGY

VHOST = "helpdesk"
ADMIN_USER = "helpdesk-admin"
# Read-only user of the management API: KEDA reads the triage queue's length with it.
MONITOR_USER = "monitor"


def definitions() -> dict[str, Any]:
    queues = sorted(TOPOLOGY)
    # what each service user may do is defined once, in shared.broker_access (make up uses it too)
    access = {u: service_access(u) for u in SERVICE_USERS}
    users = [
        {"name": ADMIN_USER, "password": "${ADMIN_RABBITMQ_PASSWORD}", "tags": ["administrator"]},
        *({"name": u, "password": f"${{{u.upper()}_RABBITMQ_PASSWORD}}", "tags": []} for u in SERVICE_USERS),
        {"name": MONITOR_USER, "password": "${MONITOR_RABBITMQ_PASSWORD}", "tags": ["monitoring"]},
    ]
    permissions = [
        {"user": ADMIN_USER, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
        *(
            {
                "user": u,
                "vhost": VHOST,
                "configure": access[u].configure,
                "write": access[u].write,
                "read": access[u].read,
            }
            for u in SERVICE_USERS
        ),
        # vhost access (needed to read queue metrics), but no AMQP rights on any object
        {"user": MONITOR_USER, "vhost": VHOST, "configure": "^$", "write": "^$", "read": "^$"},
    ]
    # each service publishes only the routing keys it owns (shared.events.PUBLISHERS)
    topic_permissions = [
        {"user": u, "vhost": VHOST, "exchange": EXCHANGE, "write": access[u].topic_write, "read": access[u].topic_read}
        for u in SERVICE_USERS
    ]
    queue_defs: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for queue in queues:
        queue_defs.append(
            {"name": queue, "vhost": VHOST, "durable": True, "auto_delete": False, "arguments": queue_arguments(queue)}
        )
        queue_defs.append(
            {
                "name": dead_letter_queue(queue),
                "vhost": VHOST,
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-queue-type": "quorum"},
            }
        )
        for key in TOPOLOGY[queue]:
            bindings.append(
                {
                    "source": EXCHANGE,
                    "vhost": VHOST,
                    "destination": queue,
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
            )
        bindings.append(
            {
                "source": DEAD_LETTER_EXCHANGE,
                "vhost": VHOST,
                "destination": dead_letter_queue(queue),
                "destination_type": "queue",
                "routing_key": queue,
                "arguments": {},
            }
        )
    return {
        "users": users,
        "vhosts": [{"name": VHOST, "default_queue_type": "quorum"}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "exchanges": [
            {
                "name": EXCHANGE,
                "vhost": VHOST,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            },
            {
                "name": DEAD_LETTER_EXCHANGE,
                "vhost": VHOST,
                "type": "direct",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            },
        ],
        "queues": queue_defs,
        "bindings": bindings,
    }


def render() -> str:
    return json.dumps(definitions(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
