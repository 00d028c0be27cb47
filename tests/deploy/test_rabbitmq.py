"""deploy/rabbitmq: the definitions the broker loads match the code's topology, the entrypoint
fills in the passwords, and each service user can do what its service does and no more
(checked on the machine's broker, in a throwaway vhost)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import aio_pika
import pytest
from shared.bus import declare_topology
from shared.events import PUBLISHERS, published_by

from .conftest import DEPLOY, run

RABBITMQ = DEPLOY / "rabbitmq"
USERS = ("ADMIN", "AUTH", "TICKETS", "TRIAGE", "NOTIFIER", "GATEWAY", "MONITOR")


def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_definitions", RABBITMQ / "render_definitions.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_definitions_json_is_generated_from_the_topology() -> None:
    committed = (RABBITMQ / "definitions.json").read_text()
    assert committed == render_module().render(), (
        "regenerate: uv run python deploy/rabbitmq/render_definitions.py > deploy/rabbitmq/definitions.json"
    )
    definitions = json.loads(committed)
    assert all(q["arguments"]["x-queue-type"] == "quorum" for q in definitions["queues"])
    assert {u["name"] for u in definitions["users"]} == {
        "helpdesk-admin",
        "auth",
        "tickets",
        "triage",
        "notifier",
        "gateway",
        "monitor",
    }


def fill(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (RABBITMQ / "entrypoint.sh").read_text()
    script = script.replace("/etc/helpdesk/rabbitmq/definitions.json", str(RABBITMQ / "definitions.json"))
    script = script.replace(
        "/tmp/helpdesk-definitions.json",  # noqa: S108 - the container's
        str(tmp_path / "out.json"),
    )
    script = script.replace("exec docker-entrypoint.sh rabbitmq-server", "echo started")
    return run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", **env})


def test_the_entrypoint_fills_in_every_password(tmp_path: Path) -> None:
    passwords = {f"{u}_RABBITMQ_PASSWORD": f"p-{u.lower()}" for u in USERS}
    passwords["ADMIN_RABBITMQ_PASSWORD"] = 'odd & "quoted" \\ one'
    result = fill(tmp_path, passwords)
    assert result.returncode == 0, result.stderr
    users = {u["name"]: u["password"] for u in json.loads((tmp_path / "out.json").read_text())["users"]}
    assert users["helpdesk-admin"] == 'odd & "quoted" \\ one'
    assert users["triage"] == "p-triage"
    assert "${" not in (tmp_path / "out.json").read_text()
    del passwords["GATEWAY_RABBITMQ_PASSWORD"]
    missing = fill(tmp_path, passwords)
    assert missing.returncode != 0
    assert "GATEWAY_RABBITMQ_PASSWORD" in missing.stderr


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def broker_with_definitions() -> Any:
    """The definitions imported into a throwaway vhost, with prefixed users and fresh passwords."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed (the machine's broker is needed)")
    tag = "deploycheck-" + secrets.token_hex(4)
    definitions = render_module().definitions()
    passwords = {}
    for user in definitions["users"]:
        passwords[user["name"]] = user["password"] = secrets.token_urlsafe(16)
        user["name"] = f"{tag}-{user['name']}"
    for permission in definitions["permissions"] + definitions["topic_permissions"]:
        permission["user"] = f"{tag}-{permission['user']}"
    for key in ("permissions", "topic_permissions", "queues", "exchanges", "bindings"):
        for item in definitions[key]:
            item["vhost"] = tag
    definitions["vhosts"] = [{"name": tag}]
    # the broker's own user reads the file: a world-readable temporary file, removed at the end
    fd, name = tempfile.mkstemp(prefix=tag, suffix=".json")
    os.close(fd)
    path = Path(name)
    path.write_text(json.dumps(definitions))
    path.chmod(0o644)
    try:
        result = rabbitmqctl("import_definitions", str(path))
        if result.returncode != 0:
            pytest.skip(f"rabbitmqctl cannot import into the machine's broker: {result.stderr}")
        yield tag, passwords
    finally:
        path.unlink(missing_ok=True)
        # each rabbitmqctl call starts an Erlang VM: run the clean-up calls side by side
        cleanups = [
            subprocess.Popen(["rabbitmqctl", "-q", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for args in [("delete_vhost", tag), *(("delete_user", u["name"]) for u in definitions["users"])]
        ]
        for cleanup in cleanups:
            cleanup.wait(timeout=60)


async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    return None


async def what_user_may_do(url: str, user: str) -> dict[str, bool]:
    async def attempt(action: Any) -> bool:
        assert connection is not None
        channel = await connection.channel()
        try:
            await action(channel)
        except aio_pika.exceptions.ChannelClosed:
            return False
        await channel.close()
        return True

    async def consume(channel: Any, queue: str) -> None:
        await (await channel.get_queue(queue, ensure=True)).consume(ignore)

    async def private_queue(channel: Any) -> None:
        exchange = await channel.get_exchange("helpdesk.events")
        # server-named, and named as aio-pika's robust channels name them (shared.bus uses those)
        for name in ("", f"amq_{secrets.token_hex(16)}"):
            queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
            await queue.bind(exchange, routing_key="user.updated")
            await queue.consume(ignore)

    async def publish(channel: Any, key: str, user_id: str | None = None) -> None:
        exchange = await channel.get_exchange("helpdesk.events")
        await exchange.publish(
            aio_pika.Message(b"{}", user_id=user_id or url.split("//")[1].split(":")[0]), routing_key=key
        )
        await asyncio.sleep(0.2)  # a refused publish closes the channel asynchronously
        assert not channel.is_closed

    # rabbitmqctl import_definitions returns before the import has finished: wait for it
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        connection = None
        try:
            connection = await aio_pika.connect(url, timeout=10)
            probe = await connection.channel()
            await probe.get_exchange("helpdesk.events", ensure=True)
            await probe.close()
            break
        except (aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            if connection is not None:
                await connection.close()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{user} cannot use the vhost: {exc!r}") from exc
            await asyncio.sleep(0.5)
    try:
        found = {"declare": await attempt(declare_topology)}
        for key in (*PUBLISHERS, "nobody.listens"):
            found[f"publish {key}"] = await attempt(lambda c, k=key: publish(c, k))
        # the user-id property must be the publisher's own user: no posing as another service
        found["pose as another user"] = await attempt(lambda c: publish(c, "nobody.listens", user_id="impostor"))
        for queue in ("tickets", "triage", "notifier"):
            found[f"consume {queue}"] = await attempt(lambda c, q=queue: consume(c, q))
        found["private queue"] = await attempt(private_queue)
        return found
    finally:
        await connection.close()


def test_each_service_user_may_do_what_its_service_does_and_no_more(
    broker_with_definitions: tuple[str, dict[str, str]],
) -> None:
    tag, passwords = broker_with_definitions

    async def check() -> dict[str, dict[str, bool]]:
        return {
            user: await what_user_may_do(f"amqp://{tag}-{user}:{passwords[user]}@127.0.0.1:5672/{tag}", user)
            for user in ("auth", "tickets", "triage", "notifier", "gateway")
        }

    found = asyncio.run(check())
    for user, rights in found.items():
        assert rights["declare"], user
        assert rights["private queue"], user
        assert not rights["pose as another user"], user
        publishes = {key for key in (*PUBLISHERS, "nobody.listens") if rights[f"publish {key}"]}
        assert publishes == set(published_by(user)), user
        consumes = {q for q in ("tickets", "triage", "notifier") if rights[f"consume {q}"]}
        assert consumes == ({user} if user in ("tickets", "triage", "notifier") else set()), user
