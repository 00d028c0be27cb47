"""What each service's broker user may do: one definition for deploy/rabbitmq, `make up` and tests.

Every process declares the whole topology at start (so nothing is ever unroutable): it may
configure and bind every topology object. It may read (consume) only its own queue, its
dead-letter queue and its private exclusive queues (`amq.gen-*`/`amq_*`, one per process, for
`user.updated` revocations); binding needs read on the exchanges. It may publish to the event
exchange only the routing keys it owns (`shared.events.PUBLISHERS`): a topic permission, which
the broker checks on every publish to the topic exchange.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shared.bus import dead_letter_queue
from shared.events import DEAD_LETTER_EXCHANGE, EXCHANGE, TOPOLOGY, published_by

# Users whose processes connect to the broker; each gets its own password and permissions.
SERVICE_USERS = ("auth", "tickets", "triage", "notifier", "gateway")
# private queues: named by the server (amq.gen-...) or, for robust connections that redeclare
# them after a reconnect, by aio-pika (amq_<uuid hex>)
PRIVATE_QUEUES = r"^amq(\.gen-|_)[-_.A-Za-z0-9]*$"


@dataclass(frozen=True)
class Access:
    """RabbitMQ permission regexes of one service user in its vhost."""

    configure: str
    write: str
    read: str
    topic_write: str  # routing keys it may publish to the event exchange
    topic_read: str


def alternatives(names: Sequence[str]) -> str:
    """A regex matching exactly these names ("^$": none)."""
    return "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else "^$"


def service_access(service: str) -> Access:
    queues = sorted(TOPOLOGY)
    exchanges = [EXCHANGE, DEAD_LETTER_EXCHANGE]
    topology = alternatives(exchanges + queues + [dead_letter_queue(q) for q in queues])
    own = [service, dead_letter_queue(service)] if service in TOPOLOGY else []
    return Access(
        configure=f"{topology}|{PRIVATE_QUEUES}",
        # amq.default: a service replays its own dead letters straight to its queue (consumers
        # accept such a replay only from their own user, so it opens no other queue to it)
        write=f"{topology}|{PRIVATE_QUEUES}" + ("|^amq\\.default$" if own else ""),
        read=f"{alternatives(exchanges + own)}|{PRIVATE_QUEUES}",
        topic_write=alternatives(published_by(service)),
        topic_read=".*",
    )


Run = Callable[[list[str]], None]


def _rabbitmqctl(args: list[str]) -> None:
    # a fixed tool on PATH with our own arguments (a local broker's admin CLI)
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)  # noqa: S603, S607


def ensure_service_users(
    *, vhost: str, passwords: Mapping[str, str], prefix: str = "", run: Run = _rabbitmqctl
) -> dict[str, str]:
    """Create (or re-password) `<prefix><service>` users with their rights in `vhost`; returns the names."""
    names: dict[str, str] = {}
    for service, password in passwords.items():
        user = f"{prefix}{service}"
        access = service_access(service)
        try:
            run(["add_user", user, password])
        except subprocess.CalledProcessError:
            run(["change_password", user, password])  # it exists from an earlier run
        run(["set_permissions", "-p", vhost, user, access.configure, access.write, access.read])
        run(["set_topic_permissions", "-p", vhost, user, EXCHANGE, access.topic_write, access.topic_read])
        names[service] = user
    return names
