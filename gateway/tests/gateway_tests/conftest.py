"""Stand-ins for the services (small FastAPI apps on real ports) and gateways in front of them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from gateway.app import create_app
from gateway.settings import GatewaySettings
from helpdesk_testing.plugin import JwtKeys, app_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StandIn:
    """A service stand-in that echoes what it received and records every request."""

    name: str
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    openapi: dict[str, Any] | None = None
    revocations: list[dict[str, str]] = field(default_factory=list)
    revocation_queries: list[dict[str, str]] = field(default_factory=list)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/openapi.json")
        async def openapi() -> Response:
            if self.openapi is None:
                return JSONResponse({"detail": "none"}, status_code=404)
            return JSONResponse(self.openapi)

        @app.get("/internal/revocations")
        async def revocations(request: Request) -> dict[str, Any]:
            self.revocation_queries.append(dict(request.query_params))
            return {"items": self.revocations}

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
        async def echo(request: Request) -> Response:
            body = await request.body()
            seen = {
                "service": self.name,
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            self.received.append(seen)
            params = request.query_params
            if "_sleep" in params:
                await asyncio.sleep(float(params["_sleep"]))
            headers = {
                "X-Internal-Secret": "do-not-pass",
                "Set-Cookie": "session=upstream",
                "Server": "upstream-server",
                "X-Request-ID": "upstream-made-this",
            }
            if "_location" in params:
                headers["Location"] = params["_location"]
            if "_retry_after" in params:
                headers["Retry-After"] = params["_retry_after"]
            if "idempotency-key" in request.headers:
                headers["Idempotent-Replayed"] = "true"
            status = int(params.get("_status", "200"))
            if status in (204, 304):
                return Response(status_code=status, headers=headers)
            return JSONResponse(seen, status_code=status, headers=headers)

        return app

    async def start(self, port: int | None = None) -> StandIn:
        self.port = port or self.port or free_port()
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(200):
            if self.server.started:
                return self
            await asyncio.sleep(0.02)
        raise RuntimeError(f"stand-in {self.name} did not start")

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)
        self.server = None

    def requests_with(self, marker: str) -> list[dict[str, Any]]:
        return [r for r in self.received if marker in r["query"] or marker in r["body"]]


@pytest.fixture(scope="session")
async def upstreams() -> AsyncIterator[dict[str, StandIn]]:
    stand_ins = {name: StandIn(name) for name in ("auth", "tickets", "triage", "notifier")}
    for stand_in in stand_ins.values():
        await stand_in.start()
    yield stand_ins
    for stand_in in stand_ins.values():
        await stand_in.stop()


@pytest.fixture(scope="session")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text("<!doctype html><title>helpdesk web</title>")
    (root / "assets").mkdir()
    (root / "assets" / "app-1234.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    return root


@pytest.fixture(scope="session")
def make_settings(
    upstreams: dict[str, StandIn], jwt_keys: JwtKeys, rabbitmq_url: str, web_dir: Path
) -> Callable[..., GatewaySettings]:
    """Settings for a gateway in front of the stand-ins; every gateway shares the session's fresh
    vhost (each one subscribes with its own exclusive queue, as replicas do)."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "auth_url": upstreams["auth"].url,
            "tickets_url": upstreams["tickets"].url,
            "triage_url": upstreams["triage"].url,
            "notifier_url": upstreams["notifier"].url,
            "rabbitmq_url": rabbitmq_url,
            "jwt_public_key": jwt_keys.public_pem,
            "upstream_timeout": 1.0,
            "web_dir": str(web_dir),
            "environment": "test",
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return make


@pytest.fixture(scope="session")
async def gateway(make_settings: Callable[..., GatewaySettings]) -> AsyncIterator[httpx.AsyncClient]:
    """One gateway in front of the four stand-ins, for the tests that do not need their own."""
    async with app_client(create_app(make_settings())) as client:
        yield client
