"""/compat/api: the original "AI Ticket Assistant" backend contract, served on top of our /api.

Every call is translated to the same service routes /api uses, with the caller's own token, so
visibility, roles, quotas and validation are exactly ours; only the shapes differ: lists are
plain arrays, ids are `_id`, fields camelCase, errors `{"message", "error"}` (README, "Clients
of the original project").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from shared.logging import get_logger
from shared.problems import ProblemError
from shared.tracing import enabled as tracing_on
from shared.tracing import inject as inject_traceparent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.api import authenticate

log = get_logger(__name__)

# the original's statuses (TODO, IN_PROGRESS) and what ours become in its vocabulary
STATUS_NAMES = {"open": "TODO", "in_progress": "IN_PROGRESS", "resolved": "RESOLVED", "closed": "CLOSED"}
PAGE = 100


class _Template:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # the original's clients read `data.message` or `data.error`; both carry the same text
    return JSONResponse({"message": message, "error": message}, status_code=status, headers=headers)


class Upstream:
    """One answer from a service: its status, JSON body and the headers worth passing on."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> JSONResponse:
        body = self.body if isinstance(self.body, dict) else {}
        message = str(body.get("detail") or body.get("title") or "Request failed")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for item in errors[:5]:
                if isinstance(item, dict):
                    loc = [str(x) for x in item.get("loc", []) if x != "body"]
                    parts.append(f"{'.'.join(loc) or 'body'}: {item.get('msg', 'invalid')}")
            if parts:
                message = "; ".join(parts)
        # the original answers bad input with 400
        status = 400 if self.status == 422 else self.status
        headers = {k: v for k, v in self.headers.items() if k.lower() == "retry-after"}
        return _error(status, message, headers)


async def _call(
    request: Request,
    upstream: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> Upstream:
    """The service's answer to the same request made on /api, with the caller's token."""
    session: aiohttp.ClientSession = request.app.state.http
    base: str = request.app.state.upstreams[upstream]
    headers = {"accept": "application/json"}
    for name in ("authorization", "idempotency-key", "user-agent", "accept-language"):
        value = request.headers.get(name)
        if value is not None:
            headers[name] = value
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        headers["x-request-id"] = request_id
    if request.client is not None:
        headers["x-forwarded-for"] = request.client.host
    if tracing_on():
        inject_traceparent(headers)  # the service's span joins the gateway request's trace
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    try:
        async with session.request(method, base + path, params=params, data=data, headers=headers) as response:
            raw = await response.read()
            passed = {k: v for k, v in response.headers.items() if k.lower() in ("retry-after", "location")}
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return Upstream(response.status, parsed, passed)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("compat_upstream_failed", upstream=upstream, error=type(exc).__name__)
        raise ProblemError(
            503, f"The {upstream} service is unavailable; try again shortly.", headers={"Retry-After": "5"}
        ) from exc


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object.")
    return body


def _label(request: Request, template: str) -> None:
    request.scope["route"] = _Template(template)


# --- shapes --------------------------------------------------------------------------------


def compat_user(user: dict[str, Any]) -> dict[str, Any]:
    """Our User in the original's shape (never a password)."""
    return {
        "_id": user.get("id"),
        "email": user.get("email"),
        "name": user.get("name"),
        "role": user.get("role"),
        "skills": list(user.get("skills") or []),
        "createdAt": user.get("created_at"),
    }


def _person(person: dict[str, Any] | None) -> dict[str, Any] | None:
    if not person:
        return None
    return {"_id": person.get("id"), "email": person.get("email"), "name": person.get("name")}


def compat_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    """Our Ticket in the original's shape; staff-only fields only when our API gave them."""
    created_by = ticket.get("created_by") or {}
    shaped: dict[str, Any] = {
        "_id": ticket.get("id"),
        "title": ticket.get("title"),
        "description": ticket.get("description"),
        "status": STATUS_NAMES.get(str(ticket.get("status")), ticket.get("status")),
        "priority": ticket.get("priority"),
        "category": ticket.get("category"),
        "createdBy": created_by.get("id"),
        "assignedTo": _person(ticket.get("assigned_to")),
        "deadline": ticket.get("due_at"),
        "createdAt": ticket.get("created_at"),
        "updatedAt": ticket.get("updated_at"),
    }
    if "helpful_notes" in ticket:
        shaped["helpfulNotes"] = ticket.get("helpful_notes")
    if "related_skills" in ticket:
        shaped["relatedSkills"] = list(ticket.get("related_skills") or [])
    return shaped


async def _all_items(request: Request, upstream: str, path: str) -> list[dict[str, Any]] | JSONResponse:
    """Every page of one of our lists, up to GATEWAY_COMPAT_LIST_MAX items, as one array."""
    limit: int = request.app.state.compat_list_max
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < limit:
        params = {"limit": str(min(PAGE, limit - len(items)))}
        if cursor:
            params["cursor"] = cursor
        answer = await _call(request, upstream, "GET", path, params=params)
        if not answer.ok:
            return answer.error()
        page = answer.body if isinstance(answer.body, dict) else {}
        items.extend(page.get("items") or [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


# --- routes --------------------------------------------------------------------------------


async def _token_answer(request: Request, path: str) -> Response:
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    answer = await _call(request, "auth", "POST", path, body=body)
    if not answer.ok:
        return answer.error()
    data = answer.body if isinstance(answer.body, dict) else {}
    return JSONResponse({"user": compat_user(data.get("user") or {}), "token": data.get("token")})


async def signup(request: Request) -> Response:
    """POST /compat/api/auth/signup → {user, token}."""
    _label(request, "/compat/api/auth/signup")
    return await _token_answer(request, "/api/auth/signup")


async def login(request: Request) -> Response:
    """POST /compat/api/auth/login → {user, token}."""
    _label(request, "/compat/api/auth/login")
    return await _token_answer(request, "/api/auth/login")


async def logout(request: Request) -> Response:
    """POST /compat/api/auth/logout: tokens are stateless; the client forgets its own."""
    _label(request, "/compat/api/auth/logout")
    authenticate(request)
    return JSONResponse({"message": "Logged out successfully"})


def _admin(request: Request) -> JSONResponse | None:
    if not authenticate(request).is_admin:
        return _error(403, "Forbidden")
    return None


async def users(request: Request) -> Response:
    """GET /compat/api/auth/users (admin) → [user]."""
    _label(request, "/compat/api/auth/users")
    refused = _admin(request)
    if refused is not None:
        return refused
    items = await _all_items(request, "auth", "/api/auth/users")
    if isinstance(items, JSONResponse):
        return items
    return JSONResponse([compat_user(u) for u in items])


async def update_user(request: Request) -> Response:
    """POST /compat/api/auth/update-user (admin): an empty or absent `skills` keeps the user's."""
    _label(request, "/compat/api/auth/update-user")
    refused = _admin(request)
    if refused is not None:
        return refused
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    change = dict(body)
    if not change.get("skills"):
        change.pop("skills", None)
    if change.get("role") in (None, ""):
        change.pop("role", None)
    answer = await _call(request, "auth", "POST", "/api/auth/update-user", body=change)
    if not answer.ok:
        if answer.status == 404:
            return _error(404, "User not found")
        return answer.error()
    user = answer.body if isinstance(answer.body, dict) else {}
    return JSONResponse({"message": "User updated successfully", "user": compat_user(user)})


async def tickets(request: Request) -> Response:
    """GET /compat/api/tickets → [ticket]; POST → 201 {message, ticket}."""
    _label(request, "/compat/api/tickets")
    authenticate(request)
    if request.method == "GET":
        items = await _all_items(request, "tickets", "/api/tickets")
        if isinstance(items, JSONResponse):
            return items
        return JSONResponse([compat_ticket(t) for t in items])
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    if not body.get("title") or not body.get("description"):
        return _error(400, "Title and description are required")
    answer = await _call(request, "tickets", "POST", "/api/tickets", body=body)
    if not answer.ok:
        return answer.error()
    ticket = compat_ticket(answer.body if isinstance(answer.body, dict) else {})
    return JSONResponse({"message": "Ticket created and processing started", "ticket": ticket}, status_code=201)


async def ticket(request: Request) -> Response:
    """GET /compat/api/tickets/:id → {ticket}; 404 for an id the caller may not see."""
    _label(request, "/compat/api/tickets/{id}")
    authenticate(request)
    try:
        ticket_id = uuid.UUID(request.path_params["ticket_id"])
    except ValueError:
        return _error(404, "Ticket not found")
    answer = await _call(request, "tickets", "GET", f"/api/tickets/{ticket_id}")
    if answer.status == 404:
        return _error(404, "Ticket not found")
    if not answer.ok:
        return answer.error()
    return JSONResponse({"ticket": compat_ticket(answer.body if isinstance(answer.body, dict) else {})})


async def unknown(request: Request) -> Response:
    _label(request, "/compat/api/unmatched")
    return _error(404, "Not found")


def _guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Refusals (401, 403, 503 ...) in the original's error shape rather than RFC 9457."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ProblemError as exc:
            return _error(exc.status, exc.detail or exc.title, exc.headers)

    guarded.__doc__ = endpoint.__doc__
    return guarded


def routes() -> list[BaseRoute]:
    """The original's routes under /compat/api (before the web app's catch-all)."""
    return [
        Route("/compat/api/auth/signup", _guarded(signup), methods=["POST"], include_in_schema=False),
        Route("/compat/api/auth/login", _guarded(login), methods=["POST"], include_in_schema=False),
        Route("/compat/api/auth/logout", _guarded(logout), methods=["POST"], include_in_schema=False),
        Route("/compat/api/auth/users", _guarded(users), methods=["GET"], include_in_schema=False),
        Route("/compat/api/auth/update-user", _guarded(update_user), methods=["POST"], include_in_schema=False),
        Route("/compat/api/tickets", _guarded(tickets), methods=["GET", "POST"], include_in_schema=False),
        Route("/compat/api/tickets/{ticket_id}", _guarded(ticket), methods=["GET"], include_in_schema=False),
        Route(
            "/compat/api/{rest:path}",
            _guarded(unknown),
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        ),
    ]
