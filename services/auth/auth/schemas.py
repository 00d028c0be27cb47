"""Request and response bodies of the auth routes (API.md, Auth)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from shared.jwt import RoleName
from shared.text import Storable, storable

MAX_SKILLS = 50
MAX_SKILL_LENGTH = 64
MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A deliberately plain address check: ASCII, one @, dotted host name. Special-use domains such
# as .test and .local are accepted (dev and test setups use them).
_EMAIL = re.compile(rf"^[a-z0-9!#$%&'*+/=?^_`{{|}}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*@{_LABEL}(?:\.{_LABEL})+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def normalise_email(value: str) -> str:
    """Trim and lower-case an address; ValueError unless it looks like one."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email) or len(email.split("@")[0]) > 64:
        raise ValueError("not a valid email address")
    return email


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = " ".join(value.split())
    if _CONTROL.search(name):
        raise ValueError("must not contain control characters")
    return storable(name) or None


def normalise_skills(values: list[str]) -> list[str]:
    """Trim each skill and fold duplicates case-insensitively, keeping the first spelling."""
    seen: set[str] = set()
    skills: list[str] = []
    for raw in values:
        skill = " ".join(raw.split())
        if not 1 <= len(skill) <= MAX_SKILL_LENGTH:
            raise ValueError(f"each skill must have 1 to {MAX_SKILL_LENGTH} characters")
        if _CONTROL.search(skill):
            raise ValueError("a skill must not contain control characters")
        key = skill.casefold()
        if key not in seen:
            seen.add(key)
            skills.append(skill)
    return skills


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# free text that reaches the database: Postgres refuses NUL, and nobody needs control characters
PlainText = Annotated[str, AfterValidator(_no_control_characters), Storable]
Email = Annotated[str, Field(max_length=320), AfterValidator(normalise_email)]
Name = Annotated[str | None, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_clean_name)]
Skills = Annotated[
    list[Annotated[str, Field(max_length=256), Storable]],
    Field(max_length=MAX_SKILLS),
    AfterValidator(normalise_skills),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignupIn(_Strict):
    email: Email
    # length here; the common list and the address itself: password_policy, in the service
    password: str = Field(min_length=12, max_length=128)
    name: Name = None


class LoginIn(_Strict):
    # not validated as an address: any wrong email gets the same 401 as an unknown one
    email: PlainText = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UpdateUserIn(_Strict):
    email: Email
    role: RoleName | None = None
    skills: Skills | None = None
    active: StrictBool | None = None


class UserRead(BaseModel):
    """A user as the API shows it; never the password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: RoleName
    skills: list[str]
    active: bool
    email_verified: bool
    created_at: datetime


class TokenOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int
    user: UserRead


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None


class Revocation(BaseModel):
    user_id: uuid.UUID
    tokens_valid_after: datetime


class RevocationList(BaseModel):
    items: list[Revocation]


class RequesterIn(_Strict):
    """Internal: the sender of a support mail, to be found or given a requester account."""

    email: Email
    name: Name = None


class RequesterOut(BaseModel):
    user: UserRead
    created: bool


class VerifyEmailIn(_Strict):
    token: str = Field(min_length=1, max_length=2048)


class VerificationSent(BaseModel):
    """The verification mail was queued (the notifier sends it)."""

    sent: Literal[True] = True


class SetPasswordIn(_Strict):
    token: str = Field(min_length=1, max_length=2048)
    password: str = Field(min_length=8, max_length=128)
