"""People and tickets on a running stack, for the security suite."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from helpdesk_testing.stack import Stack


@dataclass
class Person:
    email: str
    password: str
    token: str
    id: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    stack: Stack
    client: httpx.Client
    admin: Person
    alice: Person  # requester who owns the ticket
    bob: Person  # another requester
    mod: Person  # moderator the ticket is assigned to
    other_mod: Person  # moderator with unrelated skills
    ticket: dict
    internal_comment_id: str | None

    def people(self) -> dict[str, Person | None]:
        return {
            "alice": self.alice,
            "bob": self.bob,
            "mod": self.mod,
            "other_mod": self.other_mod,
            "admin": self.admin,
            "anonymous": None,
        }


def signup(client: httpx.Client, prefix: str) -> Person:
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@security.test"
    password = "a-long-password-" + uuid.uuid4().hex[:6]
    r = client.post("/api/auth/signup", json={"email": email, "password": password, "name": prefix.title()})
    assert r.status_code == 201, r.text
    body = r.json()
    return Person(email, password, body["token"], body["user"]["id"], "user")


def login(client: httpx.Client, person: Person) -> Person:
    r = client.post("/api/auth/login", json={"email": person.email, "password": person.password})
    assert r.status_code == 200, r.text
    person.token = r.json()["token"]
    return person


VERIFY_LINK = re.compile(r"/verify\?token=([A-Za-z0-9_.%-]+)")


def verification_token(mail_dir: Path, email: str, timeout: float = 20) -> str:
    """The token of the newest verification link the notifier mailed to `email`."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(mail_dir.glob("*.eml"), reverse=True):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["X-Helpdesk-Kind"] != "verify_email" or message["To"].addresses[0].addr_spec != email:
                continue
            part = message.get_body(("plain",))
            found = VERIFY_LINK.search(part.get_content() if part is not None else "")
            if found:
                return unquote(found.group(1))
        if time.monotonic() > deadline:
            pytest.fail(f"no verification mail to {email} within {timeout}s")
        time.sleep(0.1)


def verify(client: httpx.Client, mail_dir: Path, person: Person) -> Person:
    """Follow the verification mail's link, as the owner of the address would."""
    r = client.post("/api/auth/verify", json={"token": verification_token(mail_dir, person.email)})
    assert r.status_code == 200, r.text
    assert r.json()["email_verified"] is True
    return person


def promote(
    client: httpx.Client, admin: Person, person: Person, role: str, skills: list[str], *, mail_dir: Path
) -> Person:
    """Verify `person`'s address through the mailed link, then give them `role` (and log in again)."""
    verify(client, mail_dir, person)
    r = client.post(
        "/api/auth/update-user", headers=admin.headers, json={"email": person.email, "role": role, "skills": skills}
    )
    assert r.status_code == 200, r.text
    person.role = role
    return login(client, person)


def wait_triaged(
    client: httpx.Client, headers: dict[str, str], ticket_id: str, timeout: float = 20, *, assigned: bool = True
) -> dict:
    """The ticket once triaged and (unless `assigned` is false: a member of an incident is worked
    through the incident, without an assignment of its own) assigned."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/tickets/{ticket_id}", headers=headers)
        assert r.status_code == 200, r.text
        ticket = r.json()
        if ticket["triage"]["state"] != "pending" and (ticket["assigned_to"] or not assigned):
            return ticket
        if time.monotonic() > deadline:
            pytest.fail(f"ticket {ticket_id} was not triaged within {timeout}s: {ticket}")
        time.sleep(0.2)


@pytest.fixture(scope="package")
def system() -> Iterator[Stack]:
    """The whole system as real processes, on ports and a database of its own (stopped after this package)."""
    stack = Stack.unique("system")
    try:
        stack.up()
    except BaseException:
        stack.purge()
        raise
    try:
        yield stack
    finally:
        stack.purge()


@pytest.fixture(scope="package")
def world(system: Stack) -> World:
    client = httpx.Client(base_url=system.base_url, timeout=30)
    email, password = system.admin
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    admin = Person(email, password, r.json()["token"], r.json()["user"]["id"], "admin")
    alice, bob = signup(client, "alice"), signup(client, "bob")
    mail_dir = system.mail_dir
    mod = promote(
        client, admin, signup(client, "mod"), "moderator", ["billing", "refunds", "payments"], mail_dir=mail_dir
    )
    other_mod = promote(client, admin, signup(client, "othermod"), "moderator", ["kubernetes"], mail_dir=mail_dir)
    time.sleep(1.5)  # triage learns moderators from user.updated events
    r = client.post(
        "/api/tickets",
        headers=alice.headers,
        json={
            "title": "Charged twice for my invoice",
            "description": "My billing statement shows a duplicate payment; please refund the extra charge.",
        },
    )
    assert r.status_code == 201, r.text
    ticket = wait_triaged(client, admin.headers, r.json()["id"])
    if ticket["assigned_to"]["id"] != mod.id:
        r = client.patch(f"/api/tickets/{ticket['id']}", headers=admin.headers, json={"assigned_to": mod.id})
        assert r.status_code == 200, r.text
        ticket = r.json()
    r = client.post(
        f"/api/tickets/{ticket['id']}/comments",
        headers=mod.headers,
        json={"body": "internal: customer is on the legacy plan", "internal": True},
    )
    internal_id = r.json().get("id") if r.status_code == 201 else None
    return World(system, client, admin, alice, bob, mod, other_mod, ticket, internal_id)
