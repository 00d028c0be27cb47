"""structlog configuration: JSON in production, console in dev; ids bound per request and message.

Our own log calls go straight from structlog's processors to stderr (a filtering bound logger, no
standard-library `logging` record, handler and formatter per line: a third of the cost, which
for the access log was a tenth of a request's CPU); the standard library's records (uvicorn,
SQLAlchemy, aio-pika) go through one handler rendering them the same way.
"""

from __future__ import annotations

import json as stdlib_json
import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

__all__ = [
    "bind_contextvars",
    "clear_contextvars",
    "configure_logging",
    "current_correlation_id",
    "get_logger",
]


def _dumps(event: dict[str, Any], **_: Any) -> str:
    try:
        return orjson.dumps(event, default=repr).decode()
    except TypeError:  # what orjson refuses (an int over 64 bits, a non-string key)
        return stdlib_json.dumps(event, default=repr)


class _Stderr:
    """Writes each rendered line to whatever `sys.stderr` is at the time (tests swap it)."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name  # what add_logger_name reads, as from a standard-library logger

    def msg(self, message: str) -> None:
        try:
            sys.stderr.write(message + "\n")
        except (OSError, ValueError):  # a closed or broken stream: like logging's handleError
            pass

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(name: str | None = None, *_: Any) -> _Stderr:
    return _Stderr(name)


# The one processor chain every structlog logger holds (changed in place by configure_logging, so
# loggers cached before a second configuration, as in tests, follow it), and the least level.
_PROCESSORS: list[Any] = []
_LEAST_LEVEL = [logging.INFO]
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _below_level(logger: Any, method: str, event: Any) -> Any:
    if _LEVELS.get(method, logging.INFO) < _LEAST_LEVEL[0]:
        raise structlog.DropEvent
    return event


def configure_logging(*, service: str, level: str = "INFO", json: bool = False) -> None:
    """Render structlog's and the standard library's log records alike, to stderr."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    # Plain tracebacks in dev: rich's default (with every frame's locals) took ~5 s of event
    # loop per SQLAlchemy traceback here, so a few failing messages starved the loop, every
    # connect timed out ("TimeoutError" with no text), which failed more messages: a process
    # that never recovered from a database outage.
    # plain tracebacks only: rich's (the console default) print every frame's local variables,
    # which hold emails, tokens and request bodies, and make one error hundreds of kilobytes
    renderers: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=_dumps)]
        if json
        else [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    )
    _LEAST_LEVEL[0] = logging.getLevelName(level.upper())
    # set_exc_info: `log.exception(...)` carries the traceback being handled
    _PROCESSORS[:] = [_below_level, structlog.dev.set_exc_info, *shared_processors, *renderers]
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=_stderr_logger,
        wrapper_class=structlog.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
    )
    # no renderer here prints the caller's file and line, thread or process names: the stdlib
    # looking them up (a stack walk in findCaller) for every record was wasted per request
    logging._srcfile = None  # noqa: SLF001 - the documented switch (logging HOWTO, Optimization)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    bind_contextvars(service=service)
    for noisy in ("aiormq", "aio_pika", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> Any:
    """A logger whose lines name `name` (as the standard library's records name their logger)."""
    return structlog.get_logger(name)


def current_correlation_id() -> str | None:
    """The correlation id of the request or message being handled, if any."""
    ctx = get_contextvars()
    value = ctx.get("correlation_id") or ctx.get("request_id")
    return str(value) if value else None
