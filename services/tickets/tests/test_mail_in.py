"""The mail-in process: real SMTP (smtplib) into the listener, real database, a stand-in for auth's
internal requester route (the stack tests in tests/security use the real auth)."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI
from helpdesk_testing.plugin import JwtKeys, TestDatabase, app_client, bearer
from shared.mailthread import reply_address, thread_reference
from tickets.mailin import create_app as create_mailin
from tickets.mailin_settings import MailInSettings

from .conftest import Kit

SECRET = "test-reply-secret-" + "x" * 20
SUPPORT = "support@help.test"


class FakeAuth:
    """auth's POST /internal/requesters on a real port: finds or makes an account per address."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, str]] = {}
        self.server: uvicorn.Server | None = None
        self.port = 0

    def add(self, email: str, role: str = "user", user_id: uuid.UUID | None = None) -> dict[str, str]:
        account = {"id": str(user_id or uuid.uuid4()), "email": email, "name": email.split("@")[0], "role": role}
        self.accounts[email] = account
        return account

    async def start(self) -> None:
        app = FastAPI()

        @app.post("/internal/requesters")
        async def requesters(body: dict[str, Any]) -> dict[str, Any]:
            email = str(body["email"]).lower()
            created = email not in self.accounts
            account = self.accounts.get(email) or self.add(email)
            return {
                "user": {**account, "skills": [], "active": True, "created_at": "2026-01-01T00:00:00Z"},
                "created": created,
            }

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._task = asyncio.create_task(self.server.serve())
        for _ in range(500):
            if self.server.started:
                break
            await asyncio.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.should_exit = True
        await self._task


@pytest.fixture(scope="module")
async def fake_auth() -> AsyncIterator[FakeAuth]:
    auth = FakeAuth()
    await auth.start()
    yield auth
    await auth.stop()


def mailin_settings(
    db: TestDatabase, vhost: str, jwt_keys: JwtKeys, fake_auth: FakeAuth, **overrides: Any
) -> MailInSettings:
    """Settings of a mail-in process on the test database and broker (SMTP on a free port)."""
    return MailInSettings(
        **{
            "environment": "test",
            "database_url": db.url("tickets"),
            "rabbitmq_url": vhost,
            "jwt_public_key": jwt_keys.public_pem,
            "support_address": SUPPORT,
            "mail_reply_secret": SECRET,
            "mail_in_port": 0,
            "create_quota": 1000,
            "auth_internal_url": f"http://127.0.0.1:{fake_auth.port}",
            **overrides,
        }
    )


@pytest.fixture(scope="module")
async def mailin(db: TestDatabase, vhost: str, jwt_keys: JwtKeys, fake_auth: FakeAuth) -> AsyncIterator[int]:
    settings = mailin_settings(
        db,
        vhost,
        jwt_keys,
        fake_auth,
        mail_in_max_bytes=200_000,
        mail_in_attachment_max_bytes=1000,
        mail_in_sender_rate=5,
    )
    app = create_mailin(settings)
    async with app_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        yield int(app.state.smtp_port)


def mail(sender: str, subject: str, body: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@client.test>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def send(port: int, message: EmailMessage | bytes, *, sender: str = "x@client.test", to: str = SUPPORT) -> None:
    def run() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            if isinstance(message, bytes):
                smtp.sendmail(sender, [to], message)
            else:
                smtp.send_message(message, from_addr=sender, to_addrs=[to])

    await asyncio.to_thread(run)


async def inbound(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM tickets.inbound_mail ORDER BY received_at")


async def test_a_mail_opens_a_ticket_for_its_sender(mailin: int, kit: Kit, fake_auth: FakeAuth) -> None:
    message = mail(
        "Erin Example <erin@client.test>",
        "Fwd: VPN drops every hour",
        "The VPN disconnects every hour since Monday.\n\n-- \nErin, ACME Corp\n",
    )
    message.add_attachment(b"log line\n", maintype="text", subtype="plain", filename="vpn.log")
    message.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream", filename="huge.bin")
    await send(mailin, message, sender="erin@client.test")
    rows = await kit.db.fetch("SELECT * FROM tickets.tickets")
    assert len(rows) == 1
    ticket = rows[0]
    account = fake_auth.accounts["erin@client.test"]
    assert str(ticket["created_by_id"]) == account["id"]
    assert ticket["created_by_email"] == "erin@client.test"
    assert ticket["title"] == "VPN drops every hour"
    assert ticket["description"].startswith("The VPN disconnects every hour since Monday.")
    assert "ACME" not in ticket["description"]  # the signature is cut
    assert "huge.bin" in ticket["description"]  # over the limit: named, not stored
    assert ticket["triage_state"] == "pending"
    assert len(await kit.events("ticket.created", ticket["id"])) == 1
    # the requester sees the attachment on the ticket, and downloads it
    token = kit.jwt_keys.token(role="user", user_id=uuid.UUID(account["id"]), email=account["email"], name="Erin")
    listed = await kit.client.get(f"/api/tickets/{ticket['id']}/attachments", headers=bearer(token))
    assert [a["filename"] for a in listed.json()["items"]] == ["vpn.log"]
    got = await kit.client.get(
        f"/api/tickets/{ticket['id']}/attachments/{listed.json()['items'][0]['id']}", headers=bearer(token)
    )
    assert got.content == b"log line\n"
    assert got.headers["content-type"] == "application/octet-stream"
    stranger = kit.person()
    refused = await kit.client.get(f"/api/tickets/{ticket['id']}/attachments", headers=stranger.headers)
    assert refused.status_code == 404


async def test_html_only_mail_is_converted_and_quotes_cut(mailin: int, kit: Kit) -> None:
    message = EmailMessage()
    message["From"] = "henry@client.test"
    message["To"] = SUPPORT
    message["Subject"] = "Invoice shows the wrong VAT"
    message.set_content(
        "<html><body><p>The VAT on invoice 42 is 25%.</p><script>alert(1)</script>"
        "<blockquote>old thread text</blockquote></body></html>",
        subtype="html",
    )
    await send(mailin, message, sender="henry@client.test")
    description = await kit.db.fetchval("SELECT description FROM tickets.tickets")
    assert description == "The VAT on invoice 42 is 25%."


async def test_the_same_message_twice_makes_one_ticket(mailin: int, kit: Kit) -> None:
    message = mail("frank@client.test", "Printer jammed", "Tray 2 jams on every page.")
    await send(mailin, message)
    await send(mailin, message)
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 1
    assert [r["outcome"] for r in await inbound(kit.db)] == ["ticket"]


@pytest.mark.parametrize(
    ("headers", "envelope_from", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "ooo@client.test", "Auto-Submitted"),
        ({"Precedence": "bulk"}, "news@client.test", "Precedence"),
        ({"X_Helpdesk_Kind": "ticket_assigned"}, "loop@client.test", "our own"),
        ({}, "", "bounce"),
    ],
)
async def test_machine_mail_opens_nothing(
    mailin: int, kit: Kit, headers: dict[str, str], envelope_from: str, reason: str
) -> None:
    await send(
        mailin, mail("gina@client.test", "Out of office", "I am away until Monday.", **headers), sender=envelope_from
    )
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 0
    (row,) = await inbound(kit.db)
    assert row["outcome"] == "ignored"
    assert reason in row["reason"]


async def test_replies_become_comments_and_forged_references_change_nothing(
    mailin: int, kit: Kit, fake_auth: FakeAuth
) -> None:
    requester = fake_auth.add(f"ivy-{uuid.uuid4().hex[:6]}@client.test")
    await send(
        mailin,
        mail(requester["email"], "Cannot log in", "Password reset mail never arrives."),
        sender=requester["email"],
    )
    ticket_id = await kit.db.fetchval("SELECT id FROM tickets.tickets")
    moderator = kit.person("moderator")
    await kit.triage(ticket_id, moderator)
    # resolved by the moderator; the requester's reply (to the Reply-To address) reopens it
    answer = await kit.client.patch(
        f"/api/tickets/{ticket_id}", json={"status": "in_progress"}, headers=moderator.headers
    )
    assert answer.status_code == 200
    assert (
        await kit.client.patch(f"/api/tickets/{ticket_id}", json={"status": "resolved"}, headers=moderator.headers)
    ).status_code == 200
    reply = mail(
        requester["email"],
        "Re: Cannot log in",
        "Still broken.\n\nOn Monday, Support wrote:\n> fixed?",
        In_Reply_To=thread_reference(ticket_id, SECRET, "help.test"),
    )
    reply.replace_header("To", reply_address(SUPPORT, ticket_id, SECRET))
    await send(mailin, reply, to=reply_address(SUPPORT, ticket_id, SECRET))
    comments = await kit.db.fetch("SELECT * FROM tickets.comments WHERE ticket_id = $1", ticket_id)
    assert [c["body"] for c in comments] == ["Still broken."]
    assert str(comments[0]["author_id"]) == requester["id"]
    assert comments[0]["internal"] is False
    assert await kit.db.fetchval("SELECT status FROM tickets.tickets WHERE id = $1", ticket_id) == "open"
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 1
    events = await kit.events("ticket.commented", ticket_id)
    assert len(events) == 1
    assert events[0]["data"]["via"] == "email"

    # a reference whose signature does not match: refused, kept, nothing changed
    forged = f"<t-{ticket_id.hex}-{'0' * 20}@help.test>"
    await send(mailin, mail(requester["email"], "Re: Cannot log in", "forged", References=forged))
    # a valid reference, but the sender is neither requester nor assignee
    fake_auth.add("mallory@client.test")
    await send(
        mailin,
        mail(
            "mallory@client.test",
            "Re: Cannot log in",
            "let me in",
            References=thread_reference(ticket_id, SECRET, "help.test"),
        ),
    )
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.comments") == 1
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 1
    outcomes = [(r["outcome"], r["reason"]) for r in await inbound(kit.db)][-2:]
    assert outcomes[0][0] == "refused"
    assert "signature" in outcomes[0][1]
    assert outcomes[1][0] == "refused"


async def test_malformed_mail_is_kept_for_admins(mailin: int, kit: Kit) -> None:
    await send(mailin, b"Subject: no sender at all\r\n\r\n\xff\xfe garbage", sender="weird@client.test")
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 0
    admin, user = kit.person("admin"), kit.person()
    listed = await kit.client.get("/api/tickets/inbound-mail", params={"outcome": "failed"}, headers=admin.headers)
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert "From" in item["reason"]
    raw = await kit.client.get(f"/api/tickets/inbound-mail/{item['id']}/raw", headers=admin.headers)
    assert b"no sender at all" in raw.content
    assert (await kit.client.get("/api/tickets/inbound-mail", headers=user.headers)).status_code == 403


async def test_per_sender_rate_and_size_and_recipient_limits(mailin: int, kit: Kit) -> None:
    for n in range(7):
        await send(mailin, mail("flood@client.test", f"Ticket number {n}", "again"))
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets") == 5
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.inbound_mail WHERE outcome = 'ignored'") == 2
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(mailin, mail("a@client.test", "Hello there", "hi"), to="someone-else@help.test")
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPServerDisconnected)):
        await send(mailin, mail("a@client.test", "Too big", "x" * 300_000))
    assert await kit.db.fetchval("SELECT count(*) FROM tickets.tickets WHERE created_by_email = 'a@client.test'") == 0


def test_production_refuses_the_dev_reply_secret(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = MailInSettings(environment="test", database_url=db.url("tickets"))
    assert any("MAIL_REPLY_SECRET" in p for p in settings.production_problems())
    settings = MailInSettings(environment="test", database_url=db.url("tickets"), mail_reply_secret="r" * 40)
    assert not any("MAIL_REPLY_SECRET" in p for p in settings.production_problems())


class FakeImap:
    """A hosted mailbox stand-in: just the IMAP4rev1 commands imaplib and the poller use."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self.seen: set[int] = set()
        self.logins: list[str] = []
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4rev1 ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            command = rest.upper()
            if command.startswith("CAPABILITY"):
                writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
            elif command.startswith("LOGIN"):
                self.logins.append(rest.split(" ")[1].strip('"'))
            elif command.startswith("SELECT"):
                writer.write(f"* {len(self.messages)} EXISTS\r\n".encode())
            elif command.startswith("UID SEARCH"):
                unseen = [str(i + 1) for i in range(len(self.messages)) if i + 1 not in self.seen]
                writer.write(("* SEARCH " + " ".join(unseen)).rstrip().encode() + b"\r\n")
            elif command.startswith("UID FETCH"):
                uid = int(rest.split(" ")[2])
                raw = self.messages[uid - 1]
                writer.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}\r\n".encode() + raw + b")\r\n")
            elif command.startswith("UID STORE"):
                uid = int(rest.split(" ")[2])
                self.seen.add(uid)
                writer.write(f"* {uid} FETCH (FLAGS (\\Seen))\r\n".encode())
            elif command.startswith("LOGOUT"):
                writer.write(b"* BYE\r\n" + f"{tag} OK LOGOUT\r\n".encode())
                await writer.drain()
                break
            writer.write(f"{tag} OK done\r\n".encode())
            await writer.drain()
        writer.close()


async def test_imap_polling_files_unseen_mail_once(
    db: TestDatabase, vhost: str, jwt_keys: JwtKeys, fake_auth: FakeAuth, kit: Kit
) -> None:
    first = mail("jules@client.test", "Laptop will not boot", "Black screen after the update.")
    second = mail("jules@client.test", "Also: the dock is dead", "No power on the USB-C dock.")
    imap = FakeImap([first.as_bytes(), second.as_bytes()])
    await imap.start()
    settings = mailin_settings(
        db,
        vhost,
        jwt_keys,
        fake_auth,
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_tls=False,
        imap_user="helpdesk",
        imap_password="pw",
        imap_poll_s=1,
    )
    try:
        async with app_client(create_mailin(settings)):
            for _ in range(100):
                if len(imap.seen) == 2:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # at least one more poll: nothing unseen, nothing new
    finally:
        await imap.stop()
    titles = sorted(r["title"] for r in await kit.db.fetch("SELECT title FROM tickets.tickets"))
    assert titles == ["Also: the dock is dead", "Laptop will not boot"]
    assert imap.seen == {1, 2}
    assert imap.logins[0] == "helpdesk"
