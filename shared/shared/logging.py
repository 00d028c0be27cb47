"""structlog configuration: JSON in production, console in dev; ids bound per request and message."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

__all__ = [
    "bind_contextvars",
    "clear_contextvars",
    "configure_logging",
    "current_correlation_id",
    "get_logger",
]


def configure_logging(*, service: str, level: str = "INFO", json: bool = False) -> None:
    """Route structlog and the standard library's logging through one renderer."""
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
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
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
    return structlog.get_logger(name)


def current_correlation_id() -> str | None:
    """The correlation id of the request or message being handled, if any."""
    ctx = get_contextvars()
    value = ctx.get("correlation_id") or ctx.get("request_id")
    return str(value) if value else None
