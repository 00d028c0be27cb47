"""Issue 13, item 6: whoever registers a future staff address first does not get the promotion.

An unverified account cannot be promoted through the gateway (`/api` and `/compat/api`); once its
owner followed the mailed link, it can. Until then the notifier mailed it nothing but that link.
"""

from __future__ import annotations

from email import message_from_bytes, policy

from .conftest import World, signup, verify

PROBLEM = "application/problem+json"


def kinds_mailed_to(world: World, email: str) -> list[str]:
    kinds = []
    for path in sorted(world.stack.mail_dir.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"].addresses[0].addr_spec == email:
            kinds.append(str(message["X-Helpdesk-Kind"]))
    return kinds


def test_an_unverified_account_cannot_be_promoted_and_a_verified_one_can(world: World) -> None:
    client, admin = world.client, world.admin.headers
    squatter = signup(client, "future-staff")
    change = {"email": squatter.email, "role": "moderator", "skills": ["billing"]}

    r = client.post("/api/auth/update-user", headers=admin, json=change)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == 409
    assert "not verified" in r.json()["detail"]
    r = client.post("/compat/api/auth/update-user", headers=admin, json={**change, "role": "admin"})
    assert r.status_code == 409, r.text
    assert "not verified" in r.json()["message"]  # the original's error shape on /compat
    [listed] = client.get("/api/auth/users", headers=admin, params={"q": squatter.email}).json()["items"]
    assert (listed["role"], listed["skills"], listed["email_verified"]) == ("user", [], False)
    # an unverified account still files tickets
    r = client.post(
        "/api/tickets",
        headers=squatter.headers,
        json={"title": "Where is my invoice", "description": "I cannot find last month's invoice."},
    )
    assert r.status_code == 201, r.text

    verify(client, world.stack.mail_dir, squatter)
    assert kinds_mailed_to(world, squatter.email) == ["verify_email"]
    r = client.post("/compat/api/auth/update-user", headers=admin, json=change)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "moderator"
    # back to user, so that triage never routes the other tests' tickets to this account
    r = client.post("/api/auth/update-user", headers=admin, json={"email": squatter.email, "role": "user"})
    assert r.status_code == 200, r.text
