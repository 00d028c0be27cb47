"""Where a request's CPU goes: py-spy samples of one process sorted into the parts of a request.

    uv run python bench/profile_breakdown.py var/bench/<run>/gateway.spy --cpu-s 4.1 --requests 1500

Used by `bench/tickets_bench.py --profile` (which records the gateway and the tickets service
with `py-spy record --format raw` during an extra gateway leg). Each sample's stack is put in
the first part, in the order of PARTS, any of whose markers (file path fragments or function
names) appears anywhere on it; so a structlog call made by the middleware counts as logging, a
pydantic call made by the serialiser as serialisation. With the process's CPU seconds and the
requests it answered in the window, each part's share becomes microseconds per request.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (part, file fragments, function names). A sample belongs to the first of these parts any of
# whose markers appears anywhere on its stack (so structlog called by the middleware is logging)
PARTS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("outbox relay, bus (in-process)", ("aio_pika/", "aiormq/", "pamqp/", "shared/bus.py", "shared/outbox.py"), ()),
    ("logging", ("structlog/", "/logging/__init__.py", "shared/logging.py"), ()),
    ("metrics", ("prometheus_client/",), ()),
    (
        "token verification",
        ("jwt/", "cryptography/", "gateway/tokens.py", "shared/jwt.py", "shared/auth.py", "revocations.py"),
        (),
    ),
    # uvicorn writing the response out (Response.__call__ is on these stacks: not serialisation)
    ("server (uvicorn, HTTP parsing)", (), ("RequestResponseCycle.send",)),
    (
        "serialisation",
        ("orjson",),
        (
            "model_dump_json",
            "from_ticket",
            "_view",
            "_json",
            "serialize_response",
            "jsonable_encoder",
            "Response.__init__",
        ),
    ),
    ("transaction (SQLAlchemy, asyncpg)", ("sqlalchemy/", "asyncpg/", "shared/db.py", "tickets/repository.py"), ()),
    ("validation", ("pydantic/", "pydantic_core/"), ("request_body_to_args",)),
    ("outgoing hop", ("aiohttp/", "gateway/proxy.py", "gateway/upstream.py", "yarl/", "multidict/"), ()),
]
# the rest by the innermost frame of one of these (every stack passes through all of them)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("route code", ("gateway/", "tickets/", "shared/deadletters", "anyio/", "sniffio/")),
    (
        "middleware",
        (
            "shared/web.py",
            "starlette/middleware/",
            "fastapi/telemetry/",
            "fastapi/_body_limit.py",
            "fastapi/middleware/",
            "starlette/_exception_handler.py",
            "uvicorn/middleware/",
        ),
    ),
    ("routing, dependencies (FastAPI, Starlette)", ("fastapi/", "starlette/")),
    ("server (uvicorn, HTTP parsing)", ("uvicorn/protocols/", "httptools", "h11/")),
]
EVENT_LOOP = "event loop (uvloop: sockets, native)"
ORDER = list(dict.fromkeys([part for part, _, _ in PARTS] + [part for part, _ in LAYERS] + [EVENT_LOOP]))

_FRAME = re.compile(r"^(?P<func>.+) \((?P<file>[^()]+?)(?::\d+)?\)$")


def classify(stack: str) -> str:
    frames = []
    for raw in stack.split(";"):
        match = _FRAME.match(raw.strip())
        frames.append((match["func"], match["file"]) if match else (raw.strip(), ""))
    for part, files, funcs in PARTS:
        for func, file in frames:
            if func in funcs or any(fragment in file for fragment in files):
                return part
    # the middleware modules above a route (gateway/security.py) count as middleware, not route
    for _func, file in reversed(frames):
        if file.endswith(("gateway/security.py", "gateway/cors.py")):
            return "middleware"
        for part, files in LAYERS:
            if any(fragment in file for fragment in files):
                return part
    return EVENT_LOOP


def breakdown(raw: Path) -> Counter[str]:
    """Samples per part from a `py-spy record --format raw` file (`stack count` lines)."""
    parts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            parts[classify(stack)] += int(count)
    return parts


def table(name: str, parts: Counter[str], cpu_s: float, requests: int) -> str:
    total = sum(parts.values()) or 1
    per_request_us = cpu_s / max(requests, 1) * 1e6
    lines = [f"{name}: {per_request_us:.0f} us CPU per request ({cpu_s:.2f} s CPU, {requests} requests)"]
    for part in ORDER:
        share = parts.get(part, 0) / total
        if share:
            lines.append(f"  {part:<36} {share * 100:5.1f} %  {share * per_request_us:7.0f} us")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--cpu-s", type=float, required=True)
    parser.add_argument("--requests", type=int, required=True)
    args = parser.parse_args()
    print(table(args.raw.stem, breakdown(args.raw), args.cpu_s, args.requests))


if __name__ == "__main__":
    main()
