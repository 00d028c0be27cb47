"""The gateway's own routes: /api/* forwarding with token and role checks, docs, the web app."""

from __future__ import annotations

from fastapi.openapi.docs import get_swagger_ui_html
from shared.auth import unauthorized
from shared.jwt import InvalidTokenError, Principal
from shared.problems import ProblemError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.routes import Access, metric_template, path_is_clean, resolve

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
    verifier = getattr(request.app.state, "cached_verifier", None)
    if verifier is None:
        raise ProblemError(503, "Token verification is not configured.")
    try:
        principal: Principal = verifier.verify(token)
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc
    if request.app.state.revocations.revoked(principal):
        raise unauthorized("The token was issued before a change to this account; sign in again.")
    return principal


async def forward_api(request: Request) -> Response:
    """Checks the token and the role the route needs, then forwards to the service."""
    path = request.url.path
    if not path_is_clean(path, request.scope.get("raw_path")):
        raise ProblemError(404, "No such route.")
    route = resolve(request.method if request.method != "HEAD" else "GET", path)
    if route is None:
        raise ProblemError(404, "No such route.")
    # the request middleware labels metrics and logs with scope["route"].path
    request.scope["route"] = _Template(metric_template(path))
    if route.access is not Access.PUBLIC:
        principal = authenticate(request)
        if route.access is Access.ADMIN and not principal.is_admin:
            raise ProblemError(403, "Your role may not use this route.")
    request_id = request.scope.get("state", {}).get("request_id")
    response: Response = await request.app.state.forwarder.forward(request, route.upstream, request_id=request_id)
    return response


async def not_found(request: Request) -> Response:
    raise ProblemError(404, "No such route.")


async def openapi_json(request: Request) -> Response:
    """The merged OpenAPI document of the public API."""
    return JSONResponse(await request.app.state.openapi.document())


async def docs(request: Request) -> Response:
    """Swagger UI over /openapi.json."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Helpdesk API")


async def web_app(request: Request) -> Response:
    """The built web app, with index.html for client-side routes."""
    response: Response = request.app.state.web.response(request, request.path_params["path"])
    return response


def routes() -> list[BaseRoute]:
    """Order matters: the web app's catch-all comes last."""
    return [
        Route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
        Route("/docs", docs, methods=["GET"], include_in_schema=False),
        Route("/api", forward_api, methods=API_METHODS, include_in_schema=False),
        Route("/api/{rest:path}", forward_api, methods=API_METHODS, include_in_schema=False),
        Route("/internal", not_found, methods=ALL_METHODS, include_in_schema=False),
        Route("/internal/{rest:path}", not_found, methods=ALL_METHODS, include_in_schema=False),
        Route("/{path:path}", web_app, methods=["GET"], include_in_schema=False),
    ]
