"""RFC 9457 problem details for every error a service answers; never a stack trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from shared.logging import get_logger
from shared.outage import DependencyUnavailableError, is_unavailable

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.type = type_
        self.headers = headers
        self.errors = errors


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError(404, f"No such {what}.")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without the input values (they may be huge or secret)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "invalid")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _problem_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.detail, title=exc.title, type_=exc.type, headers=exc.headers, errors=exc.errors
    )


async def _http_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == _TITLES.get(exc.status_code) or detail in ("Not Found", "Method Not Allowed"):
        detail = None
    return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _validation_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"] if part != "body") or "request"
    return problem_response(422, f"{where}: {first['msg']}", errors=errors)


async def _unhandled_handler(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", exc_info=exc)
    return problem_response(500, "An unexpected error occurred; it has been logged.")


async def _unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database cannot be reached (connection refused, lost, pool exhausted)."""
    if isinstance(exc, DBAPIError) and not (
        exc.connection_invalidated
        or isinstance(exc, OperationalError | InterfaceError)
        or is_unavailable(exc)  # no free slot, a role that may not log in, server shutting down
    ):
        return await _unhandled_handler(request, exc)  # a query that failed, not a database away
    log.warning("database_unavailable", error=type(exc).__name__)
    return problem_response(
        503, "A service this request needs is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` an RFC 9457 document."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    for unavailable in (OSError, TimeoutError, PoolTimeoutError, DBAPIError, DependencyUnavailableError):
        app.add_exception_handler(unavailable, _unavailable_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
