"""The gateway's own routes: /api/* forwarding with token and role checks, docs, the web app."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import token_verifier, unauthorized
from shared.events import STAFF_ROLES
from shared.jwt import InvalidTokenError, Principal
from shared.problems import ProblemError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as HttpRoute

from gateway import docs
from gateway.routes import Access, Route, metric_template, path_is_clean, resolve

API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ALL_METHODS = [*API_METHODS, "HEAD", "OPTIONS"]


class _Template:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def authenticate(request: Request) -> Principal:
    """The verified, unrevoked caller; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    try:
        principal: Principal = token_verifier(request).verify(token)
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc
    if request.app.state.revocations.revoked(principal):
        raise unauthorized("The token was issued before a change to this account; sign in again.")
    return principal


# the one route that takes bulk bodies (up to 1,000 labelled tickets a call), from admins only
IMPORT_PATH = "/api/triage/examples"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int
    admin_import: int

    def for_caller(self, path: str, principal: Principal | None) -> int:
        if path == IMPORT_PATH and principal is not None and principal.is_admin:
            return self.admin_import
        return self.default


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"The request body is larger than {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 by its Content-Length or as soon as it grows past `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            too_big = True
        if too_big:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def forward_api(request: Request) -> Response:
    """Checks the token and the role the route needs, then reads the body and forwards it.

    Nothing of the body is read before the caller is authenticated and authorised: an anonymous
    client cannot make the gateway buffer anything, and only admins get the import limit.
    """
    path = request.url.path
    if not path_is_clean(path, request.scope.get("raw_path")):
        raise ProblemError(404, "No such route.")
    route = resolve(request.method if request.method != "HEAD" else "GET", path)
    if route is None:
        raise ProblemError(404, "No such route.")
    # the request middleware labels metrics and logs with scope["route"].path
    request.scope["route"] = _Template(metric_template(path))
    principal = _authorised(request, route)
    body = await read_body(request, request.app.state.body_limits.for_caller(path, principal))
    request_id = request.scope.get("state", {}).get("request_id")
    response: Response = await request.app.state.forwarder.forward(
        request, route.upstream, request_id=request_id, body=body
    )
    return response


def _authorised(request: Request, route: Route) -> Principal | None:
    """The caller the route admits (None on a public route); 401 or 403 otherwise."""
    if route.access is Access.PUBLIC:
        return None
    principal = authenticate(request)
    if route.access is Access.ADMIN and not principal.is_admin:
        raise ProblemError(403, "Your role may not use this route.")
    if route.access is Access.STAFF and principal.role not in STAFF_ROLES:
        raise ProblemError(403, "Your role may not use this route.")
    return principal


async def not_found(request: Request) -> Response:
    raise ProblemError(404, "No such route.")


async def openapi_json(request: Request) -> Response:
    """The merged OpenAPI document of the public API."""
    return JSONResponse(await request.app.state.openapi.document())


async def web_app(request: Request) -> Response:
    """The built web app, with index.html for client-side routes."""
    response: Response = request.app.state.web.response(request, request.path_params["path"])
    return response


def routes() -> list[BaseRoute]:
    """Order matters: the web app's catch-all comes last."""
    return [
        HttpRoute("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
        HttpRoute("/docs", docs.docs_page, methods=["GET"], include_in_schema=False),
        HttpRoute("/docs/init.js", docs.docs_init, methods=["GET"], include_in_schema=False),
        HttpRoute("/docs/assets/{name}", docs.docs_asset, methods=["GET"], include_in_schema=False),
        HttpRoute("/api", forward_api, methods=API_METHODS, include_in_schema=False),
        HttpRoute("/api/{rest:path}", forward_api, methods=API_METHODS, include_in_schema=False),
        HttpRoute("/internal", not_found, methods=ALL_METHODS, include_in_schema=False),
        HttpRoute("/internal/{rest:path}", not_found, methods=ALL_METHODS, include_in_schema=False),
        HttpRoute("/{path:path}", web_app, methods=["GET"], include_in_schema=False),
    ]
