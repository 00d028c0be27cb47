"""Prove the pipeline loses nothing: load + a fault schedule + a Jepsen-style check.

It starts its own stack instance (`chaos_<pid>`, free ports, its own database and vhost) with
RabbitMQ reached through a TCP proxy this script controls, signs up requesters and moderators,
records the outcome of every `POST /api/tickets` (201 / error / timeout; each ticket has its own
Idempotency-Key and is retried on 502/503/504/timeouts, as a careful client does) while faults run:

  short (make test):  one broker outage, one SIGKILL of the triage worker
  long (make chaos):  broker outage x2, triage SIGKILL x3, notifier SIGKILL x2, the tickets
                      outbox relay killed between the broker's confirm and mark-sent, and the
                      Postgres connections of one service terminated

then drains and checks, from the databases, the broker and var/mail:
  lost        a 201 whose ticket is missing, never triaged/assigned, or never mailed to its assignee
              (a member of an incident is owned through it: its owner mailed once for the incident)
  duplicated  a ticket with more than one triage decision / assignment, or more than one
              assignment mail for one assignment, or more than one owner mail for one incident
  unexpected  tickets or mails for titles no request ever sent, or whose request definitely
              failed (a 503 or 4xx says nothing happened; timeouts, 502 and 504 are
              indeterminate, and a ticket that exists for one is held to the checks above)
and reports redeliveries absorbed, leftover queue messages, unsent outbox rows and dead letters.
Exit status 0 only when lost = duplicated = unexpected = 0 and nothing is left over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import httpx
from helpdesk_testing.proxy import TcpProxy
from helpdesk_testing.stack import ROOT, Stack
from shared.bus import Bus
from shared.events import Envelope

SUBJECTS = [
    ("Charged twice for my subscription", "My card was billed two times this month, please refund one.", "billing"),
    ("Cannot log in to the dashboard", "Password reset mail never arrives and login fails with an error.", "account"),
    ("API returns 500 on upload", "Uploading a CSV through the REST API fails with an internal error.", "api"),
    ("Whole service down", "Nothing loads since 9am, all our users are blocked. Urgent outage.", "outage"),
    ("Refund for a returned laptop", "I sent the laptop back two weeks ago and have no refund yet.", "returns"),
    ("Question about enterprise pricing", "We are 300 seats, what discounts do you offer?", "sales"),
    ("VPN disconnects every hour", "The corporate VPN drops connection regularly on Windows 11.", "network"),
    ("Database connection timeouts", "Our Postgres instance times out under load since the upgrade.", "database"),
]
MODERATOR_SKILLS = [
    ["billing", "payments", "refunds"],
    ["account", "login", "security"],
    ["api", "integration", "technical support"],
    ["outage", "network", "infrastructure", "database"],
    ["returns", "sales", "customer service"],
]


# answers worth repeating with the same Idempotency-Key: nothing happened (503, no connection)
# or nobody knows (timeout, 502, 504, a broken connection)
RETRYABLE = frozenset(
    {"timeout", "502", "503", "504", "ConnectError", "ReadError", "RemoteProtocolError", "WriteError"}
)
DEFINITE_FAILURES = frozenset({"503", "ConnectError"})
RETRIES = 5


@dataclass
class Outcomes:
    created: dict[str, str] = field(default_factory=dict)  # title -> ticket id
    errors: Counter[str] = field(default_factory=Counter)
    # titles whose outcome is unknown: no answer in time, or the gateway's 502/504 (the service
    # may have created the ticket before it died); a ticket for one may exist, or not
    indeterminate: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    failed_attempts: Counter[str] = field(default_factory=Counter)  # retried or final, by kind
    replayed: int = 0  # 201s that were a retry finding the ticket its first attempt had made


@dataclass
class Fault:
    at: float  # share of the load sent when it fires
    kind: str
    duration: float = 0.0


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of a non-empty list."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)], ordered[-1]


def _p50_p99_ms(values: list[float], *, count: bool = False) -> str:
    if not values:
        return "-"
    p50, p99, _ = _quantiles(values)
    return f"{p50 * 1000:.0f} / {p99 * 1000:.0f}" + (f" ({len(values)} requests)" if count else "")


def _p50_p99_max_s(values: list[float]) -> str:
    if not values:
        return "-"
    return " / ".join(f"{v:.1f}" for v in _quantiles(values))


def unfinished(ticket: dict | None, mails: int) -> bool:
    """Missing, still awaiting triage, unowned, or never mailed to its assignee."""
    return ticket is None or ticket["triage"]["state"] == "pending" or not ticket["assigned_to"] or mails == 0


def schedule(long: bool) -> list[Fault]:
    if not long:
        return [Fault(0.25, "broker", 6.0), Fault(0.55, "kill:triage")]
    return [
        Fault(0.08, "relay-between-publish-and-mark"),
        Fault(0.15, "broker", 120.0),  # two minutes without a broker: creation must not notice
        Fault(0.25, "kill:triage"),
        Fault(0.35, "kill:notifier"),
        Fault(0.45, "pg-reset:triage"),
        Fault(0.50, "kill:triage"),
        Fault(0.60, "broker", 15.0),
        Fault(0.70, "kill:notifier"),
        Fault(0.80, "kill:triage"),
    ]


class Chaos:
    def __init__(
        self,
        *,
        tickets: int,
        long: bool,
        concurrency: int,
        keep: bool,
        rate: float = 0.0,
        drain_timeout: float = 90.0,
        triage_deadline: float = 60.0,
    ) -> None:
        self.total = tickets
        self.rate = rate
        self.drain_timeout = drain_timeout
        self.triage_deadline = triage_deadline
        self.long = long
        self.concurrency = concurrency
        self.keep = keep
        self.run_id = uuid.uuid4().hex[:6]
        self.stack = Stack.unique("chaos")
        self.proxy = TcpProxy("127.0.0.1", 5672)
        self.outcomes = Outcomes()
        self.sent = 0
        self.fault_log: list[str] = []
        self.last_fault_at = 0.0
        self.last_fault_wall = 0.0  # the same moment on the wall clock the services stamp tickets with
        self.fault_dir = self.stack.var / "faults"
        self.duplicates_sent = 0
        self.broker_down = False
        self.outage_latencies: list[float] = []

    # -- stack -------------------------------------------------------------------------------

    def stack_env(self) -> dict[str, str]:
        return {
            "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{self.proxy.port}/{self.stack.vhost}",
            "HELPDESK_FAULT_DIR": str(self.fault_dir),
            "TICKETS_CREATE_QUOTA": "0",  # 20 requesters file thousands of tickets on purpose
            "AUTH_SIGNUP_ADDRESS_LIMIT": "0",  # and all sign up from 127.0.0.1
            # busy, each process may hold 2 x DB_POOL_SIZE (+1 LISTEN): 6 keeps the whole stack
            # within the server's 100 connections, which `stack.py up` checks
            "DB_POOL_SIZE": "6",
            "BUS_PREFETCH": "10",  # within twice the pool
            # nobody resolves tickets during the run: without this every ticket past the fifth
            # moderator's 20th would queue on the one admin's workload row
            "TRIAGE_MODERATOR_CAPACITY": "10000",
            "LOG_LEVEL": "INFO",
        }

    async def start(self) -> None:
        await self.proxy.start()
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.stack.up, self.stack_env())

    async def restart_missing(self) -> None:
        env = {**os.environ, **self.stack_env()}
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                str(ROOT / "scripts" / "stack.py"),
                "up",
                "--no-web",
                "--skip-setup",
                "--instance",
                self.stack.instance,
                "--port-offset",
                str(self.stack.port_offset),
            ],
            cwd=ROOT,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"restarting killed processes failed:\n{result.stdout}\n{result.stderr}")

    # -- faults ------------------------------------------------------------------------------

    async def inject(self, fault: Fault) -> None:
        started = time.monotonic()
        if fault.kind == "broker":
            await self.proxy.cut()
            self.broker_down = True
            await asyncio.sleep(fault.duration)
            self.broker_down = False
            await self.proxy.restore()
        elif fault.kind.startswith("kill:"):
            process = fault.kind.split(":", 1)[1]
            pid = self.stack.pid(process)
            if pid:
                os.killpg(pid, signal.SIGKILL)
            await asyncio.sleep(1.0)
            await self.restart_missing()
        elif fault.kind == "relay-between-publish-and-mark":
            (self.fault_dir / "relay-exit-after-publish").touch()
            # the next relay batch of any process with an outbox takes the marker and dies
            for _ in range(100):
                if not (self.fault_dir / "relay-exit-after-publish").exists():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            await self.restart_missing()
        elif fault.kind.startswith("pg-reset:"):
            service = fault.kind.split(":", 1)[1]
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.stack.database}")
            try:
                killed = await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND usename = $2 AND pid <> pg_backend_pid()",
                    self.stack.database,
                    f"helpdesk_{service}",
                )
            finally:
                await conn.close()
            self.fault_log.append(f"  terminated {killed} connections of {service}")
        self.last_fault_at = time.monotonic()
        self.last_fault_wall = time.time()
        self.fault_log.append(f"{fault.kind:32} at {fault.at:.0%} of load, took {time.monotonic() - started:.1f}s")

    # -- load --------------------------------------------------------------------------------

    async def setup_people(self, client: httpx.AsyncClient) -> list[str]:
        admin_email, admin_password = self.stack.admin
        admin = (await client.post("/api/auth/login", json={"email": admin_email, "password": admin_password})).json()
        admin_headers = {"Authorization": f"Bearer {admin['token']}"}
        for i, skills in enumerate(MODERATOR_SKILLS):
            mod_email = f"mod{i}-{self.run_id}@chaos.test"
            r = await client.post("/api/auth/signup", json={"email": mod_email, "password": "moderator-pass-1"})
            r.raise_for_status()
            # only a verified account may be promoted: follow the mailed link, as its owner would
            r = await client.post("/api/auth/verify", json={"token": await self.verification_token(mod_email)})
            r.raise_for_status()
            r = await client.post(
                "/api/auth/update-user",
                headers=admin_headers,
                json={"email": mod_email, "role": "moderator", "skills": skills},
            )
            r.raise_for_status()
        tokens = []
        for i in range(20):
            r = await client.post(
                "/api/auth/signup", json={"email": f"user{i}-{self.run_id}@chaos.test", "password": "requester-pass-1"}
            )
            r.raise_for_status()
            tokens.append(r.json()["token"])
        await asyncio.sleep(2.0)  # let triage learn the moderators from user.updated
        return tokens

    async def load(self, client: httpx.AsyncClient, tokens: list[str]) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.total):
            queue.put_nowait(i)

        load_started = asyncio.get_running_loop().time()

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if self.rate:
                    # an open-loop arrival rate: request i leaves at i / rate, whatever the answers do
                    delay = load_started + i / self.rate - asyncio.get_running_loop().time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                subject, body, _ = SUBJECTS[i % len(SUBJECTS)]
                await self.create(client, i, f"{subject} [{self.run_id}-{i}]", body, tokens[i % len(tokens)])
                self.sent += 1

        async def faults() -> None:
            for fault in schedule(self.long):
                while self.sent < fault.at * self.total:  # noqa: ASYNC110 - polls a counter, not an event
                    await asyncio.sleep(0.05)
                await self.inject(fault)

        stop_duplicating = asyncio.Event()
        fault_task = asyncio.create_task(faults())
        duplicate_task = asyncio.create_task(self.duplicate_events(stop_duplicating))
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        await fault_task
        await asyncio.sleep(3)  # let the last events leave the outboxes, then copy 10 % of them too
        stop_duplicating.set()
        await duplicate_task

    async def create(self, client: httpx.AsyncClient, i: int, title: str, body: str, token: str) -> None:
        """POST one ticket as a careful client does: one Idempotency-Key, retried while the answer
        is unavailable or unknown, so a retry after a 502 or a timeout cannot open a second ticket."""
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"chaos-{self.run_id}-{i}"}
        outcome = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            started = time.monotonic()
            try:
                r = await client.post(
                    "/api/tickets", json={"title": title, "description": body}, headers=headers, timeout=10
                )
            except httpx.TimeoutException:
                outcome = "timeout"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            else:
                if r.status_code == 201:
                    elapsed = time.monotonic() - started
                    self.outcomes.created[title] = r.json()["id"]
                    self.outcomes.latencies.append(elapsed)
                    if self.broker_down:
                        self.outage_latencies.append(elapsed)
                    if r.headers.get("idempotent-replayed") == "true":
                        self.outcomes.replayed += 1
                    return
                outcome = str(r.status_code)
            self.outcomes.failed_attempts[outcome] += 1
            if outcome not in RETRYABLE:
                break
        if outcome in DEFINITE_FAILURES or outcome.startswith("4"):
            self.outcomes.errors[outcome] += 1
        else:  # no answer, or one that does not say whether the ticket was made
            self.outcomes.indeterminate.add(title)

    async def duplicate_events(self, stop: asyncio.Event, share: float = 0.10) -> None:
        """Re-publish about 10 % of the events the services published, with the same ids.

        At-least-once delivery means consumers see such copies; they must change nothing.
        The copies go straight to the broker (not through the proxy the faults cut).
        """
        bus = Bus(f"amqp://guest:guest@127.0.0.1:5672/{self.stack.vhost}", service="chaos-duplicator")
        await bus.start()
        await bus.wait_connected(10)
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.stack.database}")
        since: dict[str, object] = {}
        rng = random.Random(self.run_id)
        try:
            while True:
                stopping = stop.is_set()
                for schema in ("tickets", "triage"):
                    rows = await conn.fetch(
                        f"SELECT envelope, published_at FROM {schema}.outbox "  # noqa: S608 - fixed names
                        "WHERE published_at IS NOT NULL AND published_at > coalesce($1, '-infinity'::timestamptz) "
                        "ORDER BY published_at",
                        since.get(schema),
                    )
                    if rows:
                        since[schema] = rows[-1]["published_at"]
                    for row in rows:
                        if rng.random() >= share:
                            continue
                        try:
                            await bus.publish(Envelope.model_validate_json(row["envelope"]))
                            self.duplicates_sent += 1
                        except Exception:  # noqa: BLE001,S112 - a copy lost to a fault is just not a copy
                            continue
                if stopping:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await conn.close()
            await bus.close()

    # -- checks ------------------------------------------------------------------------------

    async def all_tickets(self, client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            r = await client.get("/api/tickets", params=params, headers=headers)
            r.raise_for_status()
            page = r.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def verification_token(self, address: str, timeout: float = 30) -> str:
        """The token of the verification link the notifier mailed to `address`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.mails():
                if self.mail_kind(message) != "verify_email" or message["To"].addresses[0].addr_spec != address:
                    continue
                body = message.get_body(preferencelist=("plain",))
                match = re.search(r"/verify\?token=([A-Za-z0-9_.%-]+)", body.get_content() if body else "")
                if match:
                    return urllib.parse.unquote(match.group(1))
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no verification mail to {address} within {timeout}s")

    def mails(self) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted(self.stack.mail_dir.glob("*.eml")):
            found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return found

    @staticmethod
    def mail_ticket_id(message: email.message.EmailMessage) -> str | None:
        header = message.get("X-Helpdesk-Ticket")
        if header:
            return str(header)
        body = message.get_body(preferencelist=("plain",))
        match = re.search(r"/tickets/([0-9a-f-]{36})", body.get_content() if body else "")
        return match.group(1) if match else None

    @staticmethod
    def mail_kind(message: email.message.EmailMessage) -> str:
        return str(message.get("X-Helpdesk-Kind", "unknown"))

    async def queue_depths(self) -> dict[str, int]:
        result = await asyncio.to_thread(
            subprocess.run,
            ["rabbitmqctl", "-q", "list_queues", "-p", self.stack.vhost, "name", "messages"],
            capture_output=True,
            text=True,
            check=False,
        )
        depths = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and not parts[0].startswith("amq.gen"):
                depths[parts[0]] = int(parts[1])
        return depths

    async def unsent_outbox(self) -> dict[str, int]:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.stack.database}")
        try:
            counts = {}
            for schema in ("auth", "tickets", "triage", "notifier"):
                exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox")
                if exists:
                    counts[schema] = await conn.fetchval(
                        f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"  # noqa: S608
                    )
            return counts
        finally:
            await conn.close()

    async def incident_owners(self) -> dict[str, str]:
        """Ticket id -> its incident's id, for members of an incident with an owner (issue 18):
        such a ticket is owned through its incident, whose owner is mailed once for all of them."""
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.stack.database}")
        try:
            rows = await conn.fetch(
                "SELECT t.id, t.incident_id FROM tickets.tickets t JOIN tickets.incidents i ON i.id = t.incident_id "
                "WHERE i.owner_id IS NOT NULL"
            )
        finally:
            await conn.close()
        return {str(r["id"]): str(r["incident_id"]) for r in rows}

    def redeliveries(self) -> int:
        total = 0
        for log in (self.stack.var / "log").glob("*.log"):
            text = log.read_text(errors="replace")
            # a copy caught by a processed mark, or (ticket.updated in triage) by the copy's version
            total += text.count("event_duplicate_skipped") + text.count("ticket_update_stale")
        return total

    async def drain_and_check(self, client: httpx.AsyncClient, drain_timeout: float) -> int:
        admin_email, admin_password = self.stack.admin
        token = (await client.post("/api/auth/login", json={"email": admin_email, "password": admin_password})).json()[
            "token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        created_ids = set(self.outcomes.created.values())
        deadline = time.monotonic() + drain_timeout
        settled_at = None
        while True:
            tickets = [t for t in await self.all_tickets(client, headers) if f"[{self.run_id}-" in t["title"]]
            by_id = {t["id"]: t for t in tickets}
            # tickets of indeterminate requests that exist: held to the same rules
            maybe_ids = {t["id"] for t in tickets if t["title"] in self.outcomes.indeterminate}
            mails = self.mails()
            # a SIGKILL between the SMTP accept and the "sent" commit resends with the same
            # Message-ID, which receivers drop: one mail in effect, so count distinct ids
            mailed = Counter(
                ticket
                for ticket, _ in {
                    (self.mail_ticket_id(m), m.get("Message-ID"))
                    for m in mails
                    if self.mail_kind(m) in ("ticket_assigned", "unknown")
                }
            )
            # an incident's owner gets one mail for the incident, not one per member
            incident_mailed = Counter(
                incident
                for incident, _ in {
                    (self.mail_ticket_id(m), m.get("Message-ID"))
                    for m in mails
                    if self.mail_kind(m) == "incident_assigned"
                }
            )
            in_incident = await self.incident_owners()
            pending = [
                i
                for i in created_ids | maybe_ids
                if unfinished(by_id.get(i), mailed[i])
                and not (
                    i in in_incident
                    and by_id.get(i) is not None
                    and by_id[i]["triage"]["state"] != "pending"
                    and incident_mailed[in_incident[i]]
                )
            ]
            depths = await self.queue_depths()
            outbox = await self.unsent_outbox()
            busy = any(v for k, v in depths.items() if not k.endswith(".dlq")) or any(outbox.values())
            if not pending and not busy:
                settled_at = time.monotonic()
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)

        titles_sent = set(self.outcomes.created) | self.outcomes.indeterminate
        lost = pending  # what is still unfinished once the drain is over
        duplicated_mails = [i for i, n in mailed.items() if i in by_id and n > 1]
        duplicated_mails += [i for i, n in incident_mailed.items() if n > 1]
        decisions_dup = await self.duplicate_decisions(tickets)
        unexpected = [t["id"] for t in tickets if t["title"] not in titles_sent]
        unexpected_mail = [i for i in mailed if i and i not in by_id]
        dead = {k: v for k, v in depths.items() if k.endswith(".dlq") and v}
        left = {k: v for k, v in depths.items() if not k.endswith(".dlq") and v}
        failed = sum(1 for t in tickets if t["triage"]["state"] == "failed")
        delays = self.triage_delays(tickets)
        late = [d for d in delays if d > self.triage_deadline]

        rows = [
            ("requests sent", self.sent),
            ("201 created", len(self.outcomes.created)),
            ("  of which a retry's replay (Idempotent-Replayed)", self.outcomes.replayed),
            ("attempts not answered 201 (retried, same key)", sum(self.outcomes.failed_attempts.values())),
            ("errors (final)", sum(self.outcomes.errors.values())),
            ("indeterminate (timeout, 502, 504)", len(self.outcomes.indeterminate)),
            ("  of which a ticket exists (held to the same checks)", len(maybe_ids)),
            ("create p50 / p99 (ms)", _p50_p99_ms(self.outcomes.latencies)),
            ("create p50 / p99 while the broker was down (ms)", _p50_p99_ms(self.outage_latencies, count=True)),
            ("lost", len(lost)),
            ("duplicated (mails)", len(duplicated_mails)),
            ("duplicated (triage decisions or assignments, every ticket)", len(decisions_dup)),
            ("unexpected (tickets)", len(unexpected)),
            ("unexpected (mails)", len(unexpected_mail)),
            ("triaged as failed (admin-owned)", failed),
            ("in an incident (owned through it, its owner mailed once)", len(set(in_incident) & set(by_id))),
            ("incidents", len(set(in_incident.values()))),
            ("events re-published with the same id", self.duplicates_sent),
            ("redeliveries absorbed (processed mark or stale version)", self.redeliveries()),
            ("leftover queue messages", sum(left.values())),
            ("unsent outbox rows", sum(outbox.values())),
            ("dead letters", sum(dead.values())),
            ("drained after last fault (s)", f"{settled_at - self.last_fault_at:.1f}" if settled_at else "NOT DRAINED"),
            ("triage delay p50 / p99 / max (s)", _p50_p99_max_s(delays)),
            (f"triaged later than {self.triage_deadline:.0f}s after creation or the last fault", len(late)),
        ]
        print("\nfaults:")
        for line in self.fault_log:
            print("  " + line)
        print("\n| check | value |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        if self.outcomes.failed_attempts:
            print("attempts answered otherwise, by kind:", dict(self.outcomes.failed_attempts))
        if self.outcomes.errors:
            print("errors by kind:", dict(self.outcomes.errors))
        for label, ids in (("lost", lost), ("duplicated mails", duplicated_mails), ("unexpected", unexpected)):
            if ids:
                print(f"{label}: {sorted(ids)[:10]}")
        if left or dead:
            print("queues:", depths)
        bad = (
            lost
            or duplicated_mails
            or decisions_dup
            or unexpected
            or unexpected_mail
            or left
            or dead
            or any(outbox.values())
            or not settled_at
            or late
        )
        return 1 if bad else 0

    def triage_delays(self, tickets: list[dict]) -> list[float]:
        """Per triaged ticket: seconds from its creation, or from the end of the last fault if later,
        to its triage. A fault may delay what it catches; once it is over everything must catch up."""
        delays = []
        for ticket in tickets:
            triaged_at = ticket["triage"].get("triaged_at")
            if not triaged_at:
                continue
            start = max(datetime.fromisoformat(ticket["created_at"]).timestamp(), self.last_fault_wall)
            delays.append(max(0.0, datetime.fromisoformat(triaged_at).timestamp() - start))
        return delays

    async def duplicate_decisions(self, tickets: list[dict]) -> list[str]:
        """Tickets, of all the run's, with more than one triage decision for one attempt, or more
        than one assignment by triage (no retriage happens in the run: one attempt each)."""
        ids = [uuid.UUID(t["id"]) for t in tickets]
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.stack.database}")
        try:
            decided = await conn.fetch(
                "SELECT DISTINCT ticket_id FROM triage.decisions WHERE ticket_id = ANY($1::uuid[]) "
                "GROUP BY ticket_id, attempt HAVING count(*) > 1",
                ids,
            )
            assigned = await conn.fetch(
                "SELECT ticket_id FROM tickets.ticket_history WHERE ticket_id = ANY($1::uuid[]) "
                "AND actor_kind = 'system' AND changes ? 'assigned_to' GROUP BY ticket_id HAVING count(*) > 1",
                ids,
            )
        finally:
            await conn.close()
        return sorted({str(r["ticket_id"]) for r in [*decided, *assigned]})

    async def run(self) -> int:
        await self.start()
        try:
            limits = httpx.Limits(max_connections=self.concurrency + 8)
            async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=30, limits=limits) as client:
                tokens = await self.setup_people(client)
                started = time.monotonic()
                await self.load(client, tokens)
                print(f"load: {self.sent} requests in {time.monotonic() - started:.1f}s")
                return await self.drain_and_check(client, drain_timeout=self.drain_timeout)
        finally:
            if not self.keep:
                await asyncio.to_thread(self.stack.purge)
            await self.proxy.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--long", action="store_true", help="the full fault schedule")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="tickets per second offered (default: as fast as answered; long run: 20)",
    )
    parser.add_argument("--drain-timeout", type=float, default=None, help="seconds to wait for the drain")
    parser.add_argument(
        "--triage-deadline",
        type=float,
        default=None,
        help="most seconds a ticket may wait for triage after its creation or the last fault "
        "(default: 60 for the long run, 120 for the short one on a slower CI machine)",
    )
    args = parser.parse_args()
    long = args.long or args.tickets >= 5000
    rate = args.rate if args.rate is not None else (20.0 if long else 0.0)
    drain = args.drain_timeout if args.drain_timeout is not None else (300.0 if long else 180.0)
    deadline = args.triage_deadline if args.triage_deadline is not None else (60.0 if long else 120.0)
    chaos = Chaos(
        tickets=args.tickets,
        long=long,
        concurrency=args.concurrency,
        keep=args.keep,
        rate=rate,
        drain_timeout=drain,
        triage_deadline=deadline,
    )
    return asyncio.run(chaos.run())


if __name__ == "__main__":
    sys.exit(main())
