"""Rendering: every mail kind, escaping of untrusted text, no header injection, no fake links."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage

from notifier.mail import (
    MailKind,
    build_message,
    defang,
    incident_url,
    render,
    sanitize_header,
    ticket_url,
)

BASE = "https://help.example.org"
TICKET_ID = uuid.UUID("0b6f2a34-8f5e-4a8e-9d1c-3d0a7c1e2f10")
EVIL = '<script>alert("x")</script><a href="https://evil.example/steal">click me</a> & more'


def _assigned_context(**ticket: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": str(TICKET_ID),
        "title": "Printer on fire",
        "priority": "high",
        "category": "Hardware",
        "due_at": "2026-11-27T10:00:00+00:00",
        "description": "It burns.",
        "helpful_notes": "Check the toner.",
        "assignment_reason": "skills match: printers",
    }
    base.update(ticket)
    return {
        "ticket": base,
        "recipient_name": "Mo Derator",
        "ticket_url": ticket_url(BASE, TICKET_ID),
        "reassigned": False,
    }


def _links(html: str) -> list[str]:
    return re.findall(r"<a\b[^>]*>", html, flags=re.IGNORECASE)


def _parse(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_assigned_mail_carries_every_field_in_both_parts() -> None:
    mail = render(MailKind.TICKET_ASSIGNED, _assigned_context())
    assert mail.subject == "[Helpdesk] Ticket assigned to you: Printer on fire"
    for part in (mail.text, mail.html):
        for expected in (
            "Printer on fire",
            "high",
            "Hardware",
            "2026-11-27 10:00 UTC",
            "It burns.",
            "Check the toner.",
            "skills match: printers",
            f"{BASE}/tickets/{TICKET_ID}",
        ):
            assert expected in part, (expected, part)
    assert _links(mail.html) == [
        f'<a href="{BASE}/tickets/{TICKET_ID}" style="background:#0969da;color:#ffffff;'
        'padding:8px 16px;border-radius:6px;text-decoration:none;">'
    ]


def test_reassigned_mail_says_so() -> None:
    mail = render(MailKind.TICKET_ASSIGNED, {**_assigned_context(), "reassigned": True})
    assert mail.subject.startswith("[Helpdesk] Ticket reassigned to you:")
    assert "reassigned to you" in mail.text


def test_missing_fields_render_as_not_set() -> None:
    mail = render(
        MailKind.TICKET_ASSIGNED,
        _assigned_context(priority=None, category=None, due_at=None, helpful_notes=None),
    )
    assert mail.text.count("not set") == 4


def test_untrusted_ticket_text_is_escaped_and_never_a_link() -> None:
    mail = render(
        MailKind.TICKET_ASSIGNED,
        _assigned_context(
            title=EVIL,
            description=EVIL + "\nsee www.evil.example/login or http://10.0.0.1/x",
            helpful_notes="Model says: visit https://phish.example/reset now",
            assignment_reason="<b>bold</b> reason",
            category="<i>cat</i>",
        ),
    )
    html = mail.html
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<i>cat</i>" not in html
    # Our ticket link is the one and only anchor; no href points anywhere else.
    assert len(_links(html)) == 1
    assert re.findall(r'href="([^"]*)"', html) == [f"{BASE}/tickets/{TICKET_ID}"]
    for part in (mail.text, html):
        assert "https://evil.example" not in part
        assert "https://phish.example" not in part
        assert "www.evil.example" not in part
        assert "http://10.0.0.1" not in part
        assert "phish[.]example" in part
        assert "www[.]evil[.]example" in part or "www[.]evil.example" in part


def test_subject_cannot_inject_headers() -> None:
    title = "Help\r\nBcc: victim@example.com\r\n\r\n<html>body</html>\x00\x1b\u202eevil\u2028x"
    mail = render(MailKind.TICKET_ASSIGNED, _assigned_context(title=title))
    assert "\r" not in mail.subject
    assert "\n" not in mail.subject
    assert "\u202e" not in mail.subject
    assert "\x00" not in mail.subject
    message = build_message(
        mail=mail,
        sender="Helpdesk <helpdesk@example.org>",
        recipient_email="mod@example.org",
        recipient_name="Mo\r\nBcc: other@example.com",
        message_id="<1@example.org>",
        kind=MailKind.TICKET_ASSIGNED,
    )
    parsed = _parse(message)
    assert parsed["Bcc"] is None
    assert parsed.get_all("Subject") is not None
    assert len(parsed.get_all("Subject")) == 1
    assert parsed["Subject"].startswith("[Helpdesk] Ticket assigned to you: Help Bcc: victim")
    assert parsed["To"].addresses[0].addr_spec == "mod@example.org"
    assert len(parsed["To"].addresses) == 1


def test_sanitize_header_truncates_and_collapses() -> None:
    assert sanitize_header("  a\t\tb \n c  ") == "a b c"
    long = sanitize_header("x" * 500)
    assert len(long) == 200
    assert long.endswith("…")


def test_defang_leaves_plain_text_alone() -> None:
    plain = "See section 3.2, version 1.10; it costs 4.50 EUR."
    assert defang(plain) == plain
    assert defang(None) == ""
    assert defang("ftp://a.b/c") == "ftp[:]//a[.]b/c"
    assert defang("mailto:x@y.z") == "mailto[:]x@y[.]z"


def test_defang_breaks_every_host_like_token_even_without_a_scheme() -> None:
    assert defang("Reset it at evil-helpdesk.example/reset now") == "Reset it at evil-helpdesk[.]example/reset now"
    # .zip and .mov are real top-level domains: a file name may be a host
    assert defang("The file is report.zip.") == "The file is report[.]zip."
    assert defang("sub.evil.co.uk:8443/x") == "sub[.]evil[.]co[.]uk:8443/x"
    assert defang("go to 203.0.113.9/login") == "go to 203[.]0[.]113[.]9/login"
    assert defang("evil\uff0eexample and evil\u3002example") == "evil[.]example and evil[.]example"
    assert defang("пример.испытание") == "пример[.]испытание"
    mail = render(MailKind.TICKET_ASSIGNED, _assigned_context(title="Log in at evil-helpdesk.example/reset"))
    for part in (mail.subject, mail.text, mail.html):
        assert "evil-helpdesk.example" not in part
        assert "evil-helpdesk[.]example" in part


def test_message_is_multipart_alternative_text_then_html() -> None:
    mail = render(MailKind.TICKET_ASSIGNED, _assigned_context(description="Ünïcode ✓"))
    message = build_message(
        mail=mail,
        sender="Helpdesk <helpdesk@example.org>",
        recipient_email="mod@example.org",
        recipient_name="Mø Derator",
        message_id="<abc@example.org>",
        kind=MailKind.TICKET_ASSIGNED,
    )
    parsed = _parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert parsed["Message-ID"] == "<abc@example.org>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["To"].addresses[0].display_name == "Mø Derator"
    text = parsed.get_body(("plain",))
    assert text is not None
    assert "Ünïcode ✓" in text.get_content()


def test_resolved_mail() -> None:
    mail = render(
        MailKind.TICKET_RESOLVED,
        {
            "ticket": {"id": str(TICKET_ID), "title": "VPN <down>"},
            "recipient_name": "Ursula",
            "ticket_url": ticket_url(BASE, TICKET_ID),
        },
    )
    assert mail.subject == "[Helpdesk] Your ticket was resolved: VPN <down>"
    assert "VPN &lt;down&gt;" in mail.html
    assert "VPN <down>" in mail.text
    assert f"{BASE}/tickets/{TICKET_ID}" in mail.text
    assert len(_links(mail.html)) == 1


def test_triage_failed_mail_has_the_reason() -> None:
    mail = render(
        MailKind.TRIAGE_FAILED,
        {
            "ticket": {"id": str(TICKET_ID), "title": "Broken"},
            "reason": "gemini: 503 after 5 attempts <see http://x.example>",
            "recipient_name": "Ada Admin",
            "ticket_url": ticket_url(BASE, TICKET_ID),
        },
    )
    assert mail.subject == "[Helpdesk] Triage failed: Broken"
    assert "gemini: 503 after 5 attempts" in mail.text
    assert "&lt;see http[:]//x[.]example&gt;" in mail.html
    assert len(_links(mail.html)) == 1


def test_welcome_mail() -> None:
    mail = render(
        MailKind.WELCOME,
        {
            "recipient_name": "New <User>",
            "recipient_email": "new@example.org",
            "app_url": BASE + "/",
        },
    )
    assert mail.subject == "Welcome to Helpdesk"
    # a name chosen at signup reaches a stranger's inbox nowhere: not in the greeting, not escaped
    assert "New" not in mail.html
    assert "New" not in mail.text
    assert "new@example[.]org" in mail.text  # even its own address is no link
    assert re.findall(r'href="([^"]*)"', mail.html) == [BASE + "/"]


def test_ticket_url_quotes_the_id() -> None:
    assert ticket_url("https://h.example/", "a/../b") == "https://h.example/tickets/a%2F..%2Fb"


def test_subjects_survive_the_trip_through_mime_unchanged() -> None:
    """Folding must not add or drop spaces, nor decode encoded words smuggled in a title."""
    titles = [
        "Urgent Bcc: victim@example.test X-Evil: 1 and then some more words",
        "Drucker brennt über Nacht, naïve Frage zu 日本語 und ñññññ ñññññ mehr",
        "look =?utf-8?q?=0D=0ABcc:_x@y.z?= here",
        "x" * 300,
    ]
    for title in titles:
        mail = render(MailKind.TICKET_ASSIGNED, _assigned_context(title=title))
        message = build_message(
            mail=mail,
            sender="Helpdesk <helpdesk@example.org>",
            recipient_email="mod@example.org",
            recipient_name="Mo",
            message_id="<1@example.org>",
            kind=MailKind.TICKET_ASSIGNED,
        )
        parsed = _parse(message)
        assert parsed["Subject"] == mail.subject
        assert "=?" not in mail.subject
        assert "Bcc" not in parsed or parsed["Bcc"] is None


def test_welcome_mail_of_an_account_opened_by_mail_links_to_setting_a_password() -> None:
    link = BASE + "/set-password?token=abc.def.ghi"
    mail = render(
        MailKind.WELCOME,
        {"recipient_name": "Zoe", "recipient_email": "zoe@example.org", "app_url": BASE + "/", "setup_url": link},
    )
    assert link in mail.text
    assert re.findall(r'href="([^"]*)"', mail.html) == [link]


HOSTILE_NAME = "<img src=x onerror=alert(1)> Claim at evil.example/prize\r\nBcc: victim@example.org"


def _every_kind_context() -> dict[MailKind, dict[str, object]]:
    ticket = _assigned_context()["ticket"]
    common = {"recipient_name": HOSTILE_NAME, "recipient_email": "someone@example.org"}
    return {
        MailKind.TICKET_ASSIGNED: {**_assigned_context(), **common},
        MailKind.TICKET_RESOLVED: {"ticket": ticket, "ticket_url": ticket_url(BASE, TICKET_ID), **common},
        MailKind.TRIAGE_FAILED: {
            "ticket": {"id": str(TICKET_ID), "title": "Printer"},
            "reason": "timeout",
            "ticket_url": ticket_url(BASE, TICKET_ID),
            **common,
        },
        MailKind.TICKET_COMMENTED: {
            "ticket": ticket,
            "ticket_url": ticket_url(BASE, TICKET_ID),
            "author_name": HOSTILE_NAME,
            "body": "hello",
            **common,
        },
        MailKind.WELCOME: {"app_url": BASE + "/", **common},
        MailKind.VERIFY_EMAIL: {"verify_url": BASE + "/verify?token=abc.def.ghi", **common},
        MailKind.INCIDENT_ASSIGNED: {**_incident_context(), **common},
        MailKind.INCIDENT_LARGE: {**_incident_context(), **common},
    }


def _incident_context() -> dict[str, object]:
    owner = {"id": str(TICKET_ID), "name": HOSTILE_NAME, "email": "owner@example.org"}
    return {
        "incident": {
            "id": str(TICKET_ID),
            "title": "VPN down",
            "size": 12,
            "priority": "high",
            "category": None,
            "owner": owner,
        },
        "incident_url": incident_url(BASE, TICKET_ID),
        "threshold": 10,
    }


def test_names_are_never_in_subjects_and_never_unescaped_in_greetings() -> None:
    """Issue 13, item 6: a display name someone chose is no markup, no link, no header."""
    contexts = _every_kind_context()
    assert set(contexts) == set(MailKind)
    for kind, context in contexts.items():
        mail = render(kind, context)
        assert "img" not in mail.subject, kind
        assert "evil" not in mail.subject, kind
        assert "<img" not in mail.html, kind
        assert "evil.example" not in mail.html, kind
        assert "evil.example" not in mail.text, kind
        assert all("evil" not in href for href in re.findall(r'href="([^"]*)"', mail.html)), kind
        message = _parse(
            build_message(
                mail=mail,
                sender="Helpdesk <helpdesk@example.org>",
                recipient_email="someone@example.org",
                recipient_name=HOSTILE_NAME,
                message_id="<2@example.org>",
                kind=kind,
            )
        )
        assert message["Bcc"] is None, kind
        assert "\n" not in str(message["To"]), kind


def test_verification_mail_carries_its_link_and_no_name() -> None:
    link = BASE + "/verify?token=abc.def.ghi"
    mail = render(
        MailKind.VERIFY_EMAIL,
        {"recipient_name": "", "recipient_email": "new@example.org", "verify_url": link},
    )
    assert mail.subject == "Confirm your email address for Helpdesk"
    assert link in mail.text
    assert re.findall(r'href="([^"]*)"', mail.html) == [link]
    assert "new@example[.]org" in mail.text
    assert "turn this kind of mail off" not in mail.html
