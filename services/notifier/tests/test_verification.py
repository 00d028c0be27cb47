"""An unverified account is mailed nothing but the link that verifies it (issue 13, item 6)."""

from __future__ import annotations

import uuid
from typing import Any

from helpdesk_testing.plugin import wait_for
from notifier.sink import MailSink
from shared.events import Actor, Envelope, TicketCommented, UserRef

from . import events_factory as ev
from .mailbox import body, of_kind, read_mails, wait_for_mails


def ref_of(registration: Envelope, name: str = "Una Verified") -> UserRef:
    data = registration.data
    return UserRef(id=uuid.UUID(data["user_id"]), name=name, email=data["email"])


async def verified_state(db: Any, registration: Envelope) -> bool | None:
    return await db.fetchval(  # type: ignore[no-any-return]
        "SELECT email_verified FROM notifier.users WHERE id = $1", uuid.UUID(registration.data["user_id"])
    )


def ticket_mails_for(person: UserRef, other: UserRef) -> list[Envelope]:
    """An assignment, a resolution and a comment that would each mail `person`."""
    assigned = ev.assigned(ev.snapshot(assignee=person))
    resolved = ev.status_changed(ev.snapshot(status="resolved", requester=person), old="in_progress")
    ticket = ev.snapshot(requester=person, assignee=other)
    commented = Envelope.wrap(
        TicketCommented(
            ticket=ticket,
            comment_id=uuid.uuid4(),
            author=Actor(kind="user", id=other.id, role="moderator", name=other.name),
            body="We are on it.",
            via="web",
        )
    )
    return [assigned, resolved, commented]


async def test_an_unverified_signup_gets_only_its_verification_link(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    signup = ev.registered(name="Nina <b>New</b> evil.example/claim", verified=False, verification_token="tok.en-1")
    nina = ref_of(signup, "Nina <b>New</b>")
    witness = ev.user_ref("Wit Ness")  # unknown to the notifier: mailed, and tells when the events were handled
    async with run_app(make_settings(smtp_port=sink.port)):
        await publisher.publish(signup)
        (link_mail,) = await wait_for_mails(sink.directory, 1)
        for envelope in ticket_mails_for(nina, witness):
            await publisher.publish(envelope)
        await publisher.publish(ev.assigned(ev.snapshot(assignee=witness)))
        mails = await wait_for_mails(sink.directory, 2, settle=1.0)

        # asking again mails a fresh link (a request, not a change: same revision)
        again = ev.updated_user(
            signup, revision=0, changed=["verification_requested"], email_verified=False, verification_token="tok.en-2"
        )
        await publisher.publish(again)
        mails = await wait_for_mails(sink.directory, 3)

    assert link_mail["X-Helpdesk-Kind"] == "verify_email"
    assert link_mail["To"].addresses[0].addr_spec == nina.email
    assert link_mail["To"].addresses[0].display_name == ""
    assert "https://help.example.test/verify?token=tok.en-1" in body(link_mail, "plain")
    for part in ("plain", "html"):
        assert "Nina" not in body(link_mail, part)
        assert "evil" not in body(link_mail, part)
    to_nina = [m for m in mails if m["To"].addresses[0].addr_spec == nina.email]
    assert [m["X-Helpdesk-Kind"] for m in to_nina] == ["verify_email", "verify_email"]
    assert "token=tok.en-2" in body(to_nina[1], "plain")
    # the witness got its assignment (published last): the events before it were handled
    assert [m["X-Helpdesk-Kind"] for m in mails if m["To"].addresses[0].addr_spec == witness.email] == [
        "ticket_assigned"
    ]
    assert len(read_mails(sink.directory)) == 3
    assert await verified_state(db, signup) is False


async def test_once_verified_the_account_is_mailed_as_usual(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    signup = ev.registered(name="Val Later", verified=False, verification_token="tok.en-1")
    val, other = ref_of(signup, "Val Later"), ev.user_ref("Mo Derator")
    async with run_app(make_settings(smtp_port=sink.port)):
        await publisher.publish(signup)
        await wait_for_mails(sink.directory, 1, settle=0)
        await publisher.publish(ev.updated_user(signup, revision=1, changed=["email_verified"], email_verified=True))

        async def applied() -> bool:
            return await verified_state(db, signup) is True

        await wait_for(applied, timeout=10, message="the user to be verified")
        # an update from a producer that predates verification (no email_verified) keeps the state
        await publisher.publish(ev.updated_user(signup, revision=2, name="Val Renamed"))
        for envelope in ticket_mails_for(val, other):
            await publisher.publish(envelope)
        mails = await wait_for_mails(sink.directory, 4, settle=1.0)
    assert await verified_state(db, signup) is True
    to_val = [m["X-Helpdesk-Kind"] for m in mails if m["To"].addresses[0].addr_spec == val.email]
    assert sorted(to_val) == ["ticket_assigned", "ticket_commented", "ticket_resolved", "verify_email"]


async def test_an_account_made_from_a_mail_gets_its_password_link_and_the_answers_to_its_tickets(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    # it wrote to us: the answers about its tickets go back to that mailbox, as from any helpdesk;
    # anything else (an assignment, were it ever promoted) waits for the address to be verified
    made = ev.registered(name="Zoe Mailer", verified=False, password_setup_token="set.up-1")
    zoe, other = ref_of(made, "Zoe Mailer"), ev.user_ref("Mo Derator")
    async with run_app(make_settings(smtp_port=sink.port)):
        await publisher.publish(made)
        await wait_for_mails(sink.directory, 1, settle=0)
        for envelope in ticket_mails_for(zoe, other):
            await publisher.publish(envelope)
        await publisher.publish(ev.assigned(ev.snapshot(assignee=other)))
        mails = await wait_for_mails(sink.directory, 4, settle=1.0)
    to_zoe = [m for m in mails if m["To"].addresses[0].addr_spec == zoe.email]
    assert sorted(m["X-Helpdesk-Kind"] for m in to_zoe) == ["ticket_commented", "ticket_resolved", "welcome"]
    welcome = next(m for m in to_zoe if m["X-Helpdesk-Kind"] == "welcome")
    assert "https://help.example.test/set-password?token=set.up-1" in body(welcome, "plain")
    assert [m["To"].addresses[0].addr_spec for m in of_kind(mails, "ticket_assigned")] == [other.email]
    assert await verified_state(db, made) is False
