"""The notifier end to end: events on RabbitMQ → deliveries in Postgres → mail in a real SMTP sink."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from helpdesk_testing.plugin import wait_for
from notifier.sink import MailSink
from shared.events import Actor, Assignee

from . import events_factory as ev
from .mailbox import body, of_kind, read_mails, wait_for_mails

EVIL_DESCRIPTION = (
    '<script>alert("pwned")</script>\n<a href="https://evil.example/login">reset your password</a>'
    "\nor visit www.phish.example now"
)


async def _publish(publisher: Any, *envelopes: Any) -> None:
    for envelope in envelopes:
        await publisher.publish(envelope)


async def test_assignment_mails_the_assignee_with_every_detail(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink
) -> None:
    moderator = ev.user_ref("Mo Derator")
    ticket = ev.snapshot(
        assignee=moderator,
        description=EVIL_DESCRIPTION,
        helpful_notes="The model suggests https://made-up.example/fix",
    )
    async with run_app(make_settings(smtp_port=sink.port)):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _publish(publisher, ev.assigned(ticket))
        (mail,) = await wait_for_mails(sink.directory, 1, timeout=5)
        # generous against a loaded CI box; the bench measures the real figure
        assert loop.time() - started < 2.0

    assert mail["To"].addresses[0].addr_spec == moderator.email
    assert mail["X-Sink-Rcpt-To"] == moderator.email
    assert mail["From"] == "Helpdesk <helpdesk@helpdesk.test>"
    assert mail["Subject"] == "[Helpdesk] Ticket assigned to you: Printer on fire"
    assert mail["Message-ID"].endswith("@helpdesk.test>")
    assert mail["X-Helpdesk-Ticket"] == str(ticket.id)
    text, html = body(mail, "plain"), body(mail, "html")
    link = f"https://help.example.test/tickets/{ticket.id}"
    for part in (text, html):
        assert "Printer on fire" in part
        assert "high" in part
        assert "Hardware" in part
        assert "2026-11-27 13:00 UTC" in part
        assert "skills match: printers; 2 open tickets" in part
        assert link in part
        assert "https://evil.example" not in part
        assert "https://made-up.example" not in part
        assert "www.phish.example" not in part
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert html.count("<a ") == 1
    assert f'href="{link}"' in html
    assert "made-up[.]example" in text


async def test_a_redelivered_event_sends_nothing_twice(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    ticket = ev.snapshot(assignee=ev.user_ref("Mo Derator"))
    envelope = ev.assigned(ticket)
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, envelope, envelope)
        await wait_for_mails(sink.directory, 1)
        await _publish(publisher, envelope)
        await asyncio.sleep(1.0)
    assert len(read_mails(sink.directory)) == 1
    assert await db.fetchval("SELECT count(*) FROM notifier.deliveries") == 1
    assert await db.fetchval("SELECT status FROM notifier.deliveries") == "sent"


async def test_reassignment_says_so(make_settings: Any, run_app: Any, publisher: Any, sink: MailSink) -> None:
    first, second = ev.user_ref("Mo First"), ev.user_ref("Sam Second")
    ticket_id = uuid.uuid4()
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, ev.assigned(ev.snapshot(ticket_id=ticket_id, assignee=first)))
        await wait_for_mails(sink.directory, 1, settle=0)
        await _publish(
            publisher,
            ev.assigned(ev.snapshot(ticket_id=ticket_id, assignee=second), version=3, previous=first),
        )
        mails = await wait_for_mails(sink.directory, 2)
    assert [m["To"].addresses[0].addr_spec for m in mails] == [first.email, second.email]
    assert mails[1]["Subject"].startswith("[Helpdesk] Ticket reassigned to you:")


async def test_resolution_mails_the_requester_once(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink
) -> None:
    requester = ev.user_ref("Rita Requester")
    ticket_id = uuid.uuid4()
    moderator = ev.user_ref("Mo Derator")
    common = {"ticket_id": ticket_id, "requester": requester, "assignee": moderator}
    in_progress = ev.status_changed(ev.snapshot(status="in_progress", **common), old="open")
    resolved = ev.status_changed(ev.snapshot(status="resolved", **common), old="in_progress", version=4)
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, in_progress, resolved, resolved)
        mails = await wait_for_mails(sink.directory, 1, settle=1.0)
    assert len(mails) == 1
    (mail,) = mails
    assert mail["To"].addresses[0].addr_spec == requester.email
    assert mail["Subject"] == "[Helpdesk] Your ticket was resolved: Printer on fire"
    assert f"https://help.example.test/tickets/{ticket_id}" in body(mail, "plain")


async def test_welcome_mail_at_signup(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    signup = ev.registered(name="Nina <b>New</b> visit evil.example/claim")
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, signup)
        (mail,) = await wait_for_mails(sink.directory, 1)
    assert mail["To"].addresses[0].addr_spec == signup.data["email"]
    assert mail["Subject"] == "Welcome to Helpdesk"
    # the name chosen at signup is nowhere: not the greeting, not the display name, not escaped
    assert mail["To"].addresses[0].display_name == ""
    for part in ("html", "plain"):
        assert "Nina" not in body(mail, part)
        assert "evil" not in body(mail, part)
    row = await db.fetchrow("SELECT email, role FROM notifier.users")
    assert (row["email"], row["role"]) == (signup.data["email"], "user")


async def test_triage_failure_mails_every_active_admin(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink
) -> None:
    admin_a = ev.registered(role="admin", name="Ada Admin")
    admin_b = ev.registered(role="admin", name="Bob Admin")
    moderator = ev.registered(role="moderator", name="Mo Derator")
    demoted_b = ev.updated_user(admin_b, revision=2, role="moderator")
    stale_b = ev.updated_user(admin_b, revision=1, role="admin")  # older: must not win
    fallback_id = uuid.uuid4()
    fallback = Assignee(id=fallback_id, name="Fay Fallback", email="fay@example.test", role="admin")
    failed = ev.triage_failed(reason="gemini: 503 <overloaded>", fallback=fallback)
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, admin_a, admin_b, moderator, demoted_b, stale_b)
        await wait_for_mails(sink.directory, 3, settle=0.5)
        await _publish(publisher, failed)
        mails = await wait_for_mails(sink.directory, 5, settle=0.5)
    failures = of_kind(mails, "triage_failed")
    assert sorted(m["To"].addresses[0].addr_spec for m in failures) == sorted(
        [admin_a.data["email"], "fay@example.test"]
    )
    for mail in failures:
        assert mail["Subject"] == "[Helpdesk] Triage failed: Printer on fire"
        assert "gemini: 503 <overloaded>" in body(mail, "plain")
        assert "gemini: 503 &lt;overloaded&gt;" in body(mail, "html")


async def test_nothing_for_other_changes_stale_events_or_own_actions(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    ticket_id = uuid.uuid4()
    admin = ev.user_ref("Ada Admin")
    newer = ev.assigned(ev.snapshot(ticket_id=ticket_id, assignee=ev.user_ref("Now")), version=5)
    older = ev.assigned(ev.snapshot(ticket_id=ticket_id, assignee=ev.user_ref("Then")), version=4)
    self_assigned = ev.assigned(
        ev.snapshot(assignee=admin),
        actor=Actor(kind="user", id=admin.id, role="admin", name=admin.name),
    )
    priority_only = ev.status_changed(ev.snapshot(status="in_progress"), old="open")
    async with run_app(make_settings(smtp_port=sink.port)):
        # the newer event is applied first; consumers run messages concurrently, so publishing both
        # at once would not say which one the notifier sees first
        await _publish(publisher, newer)
        await wait_for_mails(sink.directory, 1, settle=0)
        await _publish(publisher, older, self_assigned, priority_only)
        mails = await wait_for_mails(sink.directory, 1, settle=1.0)
    assert [m["To"].addresses[0].display_name for m in mails] == ["Now"]
    assert await db.fetchval("SELECT count(*) FROM notifier.processed_messages") == 4


async def test_header_injection_through_the_title_reaches_nobody_else(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink
) -> None:
    moderator = ev.user_ref("Mo Derator")
    title = "Urgent\r\nBcc: victim@example.test\r\nX-Evil: 1"
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, ev.assigned(ev.snapshot(assignee=moderator, title=title)))
        (mail,) = await wait_for_mails(sink.directory, 1)
    assert mail["X-Sink-Rcpt-To"] == moderator.email
    assert mail["Bcc"] is None
    assert mail["X-Evil"] is None
    assert mail["Subject"] == "[Helpdesk] Ticket assigned to you: Urgent Bcc: victim@example[.]test X-Evil: 1"


async def test_a_disabled_user_gets_no_mail(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    signup = ev.registered(role="moderator", name="Gone Moderator")
    disabled = ev.updated_user(signup, revision=1, active=False)
    gone = ev.user_ref("Gone Moderator", email=signup.data["email"])
    gone = gone.model_copy(update={"id": uuid.UUID(signup.data["user_id"])})
    still_here = ev.user_ref("Still Here")
    async with run_app(make_settings(smtp_port=sink.port)):
        await _publish(publisher, signup)
        await wait_for_mails(sink.directory, 1, settle=0)  # the welcome mail
        await _publish(publisher, disabled)

        async def applied() -> bool:
            return await db.fetchval("SELECT NOT active FROM notifier.users") is True

        await wait_for(applied, timeout=10, message="the user to be disabled")
        await _publish(
            publisher,
            ev.assigned(ev.snapshot(assignee=gone)),
            ev.assigned(ev.snapshot(assignee=still_here)),
        )
        mails = await wait_for_mails(sink.directory, 2, settle=1.0)
    assert [m["To"].addresses[0].display_name for m in of_kind(mails, "ticket_assigned")] == ["Still Here"]


async def test_comments_go_to_the_other_side_with_a_signed_reply_address(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink
) -> None:
    from shared.events import Envelope, TicketCommented
    from shared.mailthread import find_tokens

    secret = "notifier-test-reply-secret-0123456789"
    moderator, requester = ev.user_ref("Mo Derator"), ev.user_ref("Rita Requester")
    ticket = ev.snapshot(assignee=moderator, requester=requester)

    def commented(author: Any, role: str, body_text: str) -> Envelope:
        return Envelope.wrap(
            TicketCommented(
                ticket=ticket,
                comment_id=uuid.uuid4(),
                author=Actor(kind="user", id=author.id, role=role, name=author.name),
                body=body_text,
                via="web",
            )
        )

    settings = make_settings(smtp_port=sink.port, mail_reply_secret=secret, support_address="support@help.test")
    async with run_app(settings):
        await _publish(publisher, commented(moderator, "moderator", "Please restart the router."))
        await _publish(publisher, commented(requester, "user", "Restarted, still down."))
        mails = await wait_for_mails(sink.directory, 2, timeout=5)
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in mails}
    to_requester, to_moderator = by_recipient[requester.email], by_recipient[moderator.email]
    assert "Please restart the router." in body(to_requester, "plain")
    assert "Restarted, still down." in body(to_moderator, "plain")
    for mail in (to_requester, to_moderator):
        assert mail["X-Helpdesk-Kind"] == "ticket_commented"
        reply_to = mail["Reply-To"].addresses[0].addr_spec
        assert reply_to.startswith("support+t-")
        assert reply_to.endswith("@help.test")
        assert find_tokens(reply_to, secret) == ({ticket.id}, 0)
        assert find_tokens(str(mail["References"]), secret) == ({ticket.id}, 0)
        # another secret (a forger) cannot make or read one
        assert find_tokens(reply_to, "another-secret") == (set(), 1)
