"""Run the whole system as local processes: `make up` / `make down`.

The processes, their commands, ports and settings come from deploy/processes.toml (the same
list docker-compose.yml and deploy/k8s follow). `up` starts Postgres and RabbitMQ when they
are not running, writes `.env` with fresh keys and an admin password when it is missing,
creates the database roles, schemas and the RabbitMQ vhost, migrates, starts every process
with its log in var/log/, waits until each is ready and prints the URLs.

An *instance* other than the default (`--instance e2e --port-offset 1000`) is a second,
separate stack on other ports, database, vhost and var/ folder: the end-to-end and chaos
tests use one so they never disturb a stack a developer runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PROCESSES = ROOT / "deploy" / "processes.toml"
SERVICES = ("auth", "tickets", "triage", "notifier")
# processes with a broker user of their own (shared.broker_access)
BROKER_USERS = (*SERVICES, "gateway")
# values only the processes that list them in deploy/processes.toml receive
SECRET_SUFFIXES = ("_PASSWORD", "_DATABASE_URL", "PRIVATE_KEY", "_ADMIN_DSN", "_API_KEY")
# a second process of a service logs in as that service (as in compose)
PROCESS_BROKER_USER = {"mail-in": "tickets", "tickets-relay": "tickets"}
MAIL_IN_SMTP_PORT = 2525  # mail-in's SMTP listener (its --port is the HTTP health port)
PORT_ENVS = {
    "auth": "GATEWAY_AUTH_URL",
    "tickets": "GATEWAY_TICKETS_URL",
    "triage": "GATEWAY_TRIAGE_URL",
    "notifier": "GATEWAY_NOTIFIER_URL",
}


@dataclass
class Instance:
    name: str
    port_offset: int
    root: Path = ROOT

    @property
    def default(self) -> bool:
        return self.name == "default"

    @property
    def var(self) -> Path:
        return self.root / "var" if self.default else self.root / "var" / "instances" / self.name

    @property
    def env_file(self) -> Path:
        return self.root / ".env" if self.default else self.var / ".env"

    @property
    def database(self) -> str:
        return "helpdesk" if self.default else f"helpdesk_{self.name}"

    @property
    def vhost(self) -> str:
        return "helpdesk" if self.default else f"helpdesk_{self.name}"

    @property
    def broker_user_prefix(self) -> str:
        """Broker users are global: each instance's are `<vhost>.<service>`."""
        return f"{self.vhost}."


@dataclass
class Process:
    name: str
    command: list[str]
    port: int
    health: str | None = None
    ready: str | None = None
    migrations: list[str] | None = None
    port_env: str | None = None
    settings: list[str] = field(default_factory=list)
    optional_settings: list[str] = field(default_factory=list)
    # "NAME=value": started only when the environment says so (tickets-relay: OUTBOX_RELAY=off)
    only_when: str | None = None

    def wanted(self, env: dict[str, str]) -> bool:
        if not self.only_when:
            return True
        name, _, value = self.only_when.partition("=")
        return env.get(name) == value


def load_processes() -> tuple[list[str], list[Process]]:
    spec = tomllib.loads(PROCESSES.read_text())
    processes = [
        Process(
            name=p["name"],
            command=list(p["command"]),
            port=int(p["port"]),
            health=p.get("health"),
            ready=p.get("ready"),
            migrations=p.get("migrations"),
            port_env=p.get("port_env"),
            settings=list(p.get("settings", [])),
            optional_settings=list(p.get("optional_settings", [])),
            only_when=p.get("only_when"),
        )
        for p in spec["process"]
    ]
    return list(spec["setup"]["command"]), processes


def port_of(process: Process, instance: Instance, env: dict[str, str]) -> int:
    if process.port_env and env.get(process.port_env):
        return int(env[process.port_env])
    return process.port + instance.port_offset


def argv(command: list[str], *, port: int | None = None, instance: Instance | None = None) -> list[str]:
    """The command with the venv's executable and this instance's port and mail folder."""
    exe = VENV_BIN / command[0]
    args = [str(exe) if exe.exists() else command[0], *command[1:]]
    for i, arg in enumerate(args[:-1]):
        if arg == "--port" and port is not None:
            args[i + 1] = str(port)
        if arg == "--dir" and instance is not None:
            args[i + 1] = str(instance.var / "mail")
    return args


# --- environment ------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def ensure_env_file(instance: Instance) -> dict[str, str]:
    """Write the instance's .env with fresh keys and an admin password if it has none."""
    existing = read_env_file(instance.env_file)
    additions: dict[str, str] = {}
    if not (existing.get("JWT_PRIVATE_KEY") or os.environ.get("JWT_PRIVATE_KEY")):
        sys.path.insert(0, str(ROOT / "shared"))
        from shared.jwt import generate_keypair

        private_pem, public_pem = generate_keypair()
        additions["JWT_PRIVATE_KEY"] = private_pem.strip().replace("\n", "\\n")
        additions["JWT_PUBLIC_KEY"] = public_pem.strip().replace("\n", "\\n")
    if not (existing.get("BOOTSTRAP_ADMIN_EMAIL") or os.environ.get("BOOTSTRAP_ADMIN_EMAIL")):
        additions["BOOTSTRAP_ADMIN_EMAIL"] = "admin@example.com"
    if not (existing.get("BOOTSTRAP_ADMIN_PASSWORD") or os.environ.get("BOOTSTRAP_ADMIN_PASSWORD")):
        additions["BOOTSTRAP_ADMIN_PASSWORD"] = secrets.token_urlsafe(18)
    # a broker user per process and a scram password per database role, as in compose
    for name in [f"{u.upper()}_RABBITMQ_PASSWORD" for u in BROKER_USERS] + [
        f"{s.upper()}_DB_PASSWORD" for s in SERVICES
    ]:
        if not (existing.get(name) or os.environ.get(name)):
            additions[name] = secrets.token_hex(24)
    if additions:
        instance.env_file.parent.mkdir(parents=True, exist_ok=True)
        with instance.env_file.open("a") as fh:
            if not existing:
                fh.write("# Written by `make up` (scripts/stack.py). Local secrets: never commit.\n")
            for key, value in additions.items():
                fh.write(f'{key}="{value}"\n')
        instance.env_file.chmod(0o600)
        if "BOOTSTRAP_ADMIN_PASSWORD" in additions:
            print(
                f"  generated admin: {additions.get('BOOTSTRAP_ADMIN_EMAIL', existing.get('BOOTSTRAP_ADMIN_EMAIL'))}"
                f" / {additions['BOOTSTRAP_ADMIN_PASSWORD']}  (saved in {instance.env_file.relative_to(ROOT)})"
            )
    return read_env_file(instance.env_file)


def process_env(instance: Instance, processes: list[Process]) -> dict[str, str]:
    """.env values, overridden by the real environment, plus this instance's addresses."""
    env = {**ensure_env_file(instance), **os.environ}
    env.setdefault("ENVIRONMENT", "dev")
    env.setdefault("RABBITMQ_URL", f"amqp://guest:guest@127.0.0.1:5672/{instance.vhost}")
    env.setdefault("PG_DATABASE", instance.database)
    # five processes reach Postgres directly here (no PgBouncer): 5 x (2 x 8 + 1 LISTEN) = 85
    # busy at most, within a default max_connections of 100 (check_connection_budget)
    env.setdefault("DB_POOL_SIZE", "8")
    for service in SERVICES:
        password = env.get(f"{service.upper()}_DB_PASSWORD")
        env.setdefault(
            f"{service.upper()}_DATABASE_URL",
            f"postgresql+asyncpg://helpdesk_{service}{':' + password if password else ''}"
            f"@127.0.0.1:5432/{instance.database}",
        )
    by_name = {p.name: p for p in processes}
    for service, variable in PORT_ENVS.items():
        if service in by_name:
            env.setdefault(variable, f"http://127.0.0.1:{port_of(by_name[service], instance, env)}")
    if "smtp-sink" in by_name:
        env.setdefault("SMTP_HOST", "127.0.0.1")
        env.setdefault("SMTP_PORT", str(port_of(by_name["smtp-sink"], instance, env)))
    if "mail-in" in by_name:
        env.setdefault("MAIL_IN_PORT", str(MAIL_IN_SMTP_PORT + instance.port_offset))
        env.setdefault("SUPPORT_ADDRESS", "support@localhost")
        if "auth" in by_name:
            env.setdefault("AUTH_INTERNAL_URL", f"http://127.0.0.1:{port_of(by_name['auth'], instance, env)}")
    gateway = by_name.get("gateway")
    if gateway:
        env.setdefault("WEB_BASE_URL", f"http://127.0.0.1:{port_of(gateway, instance, env)}")
    env.setdefault("GATEWAY_WEB_DIR", str(ROOT / "web" / "dist"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def broker_users_enabled() -> bool:
    """Service users need rabbitmqctl on this machine; without it every process shares RABBITMQ_URL."""
    return shutil.which("rabbitmqctl") is not None


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def env_for(process: Process, instance: Instance, env: dict[str, str]) -> dict[str, str]:
    """One process's environment: its own broker user, and no secret it does not list."""
    listed = set(process.settings) | set(process.optional_settings)
    own = {k: v for k, v in env.items() if k in listed or not k.endswith(SECRET_SUFFIXES)}
    user = PROCESS_BROKER_USER.get(process.name, process.name)
    password = env.get(f"{user.upper()}_RABBITMQ_PASSWORD")
    if user in BROKER_USERS and password and broker_users_enabled():
        # RABBITMQ_URL (the administrator's) says where the broker is; each process logs in as itself
        own["RABBITMQ_URL"] = with_credentials(env["RABBITMQ_URL"], f"{instance.broker_user_prefix}{user}", password)
    return own


# --- dependencies -----------------------------------------------------------------------------


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_servers() -> None:
    """Start the machine's Postgres and RabbitMQ if they are not running (never stop them)."""
    if not reachable("127.0.0.1", 5432):
        print("  starting Postgres")
        clusters = sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").exists() else []
        if clusters:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "start"], check=False)
    if not reachable("127.0.0.1", 5672):
        print("  starting RabbitMQ")
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
    for host, port, name in (("127.0.0.1", 5432, "Postgres"), ("127.0.0.1", 5672, "RabbitMQ")):
        deadline = time.monotonic() + 90
        while not reachable(host, port):
            if time.monotonic() > deadline:
                sys.exit(f"{name} is not reachable on {host}:{port}")
            time.sleep(1)


def ensure_vhost(vhost: str) -> None:
    if subprocess.run(["which", "rabbitmqctl"], capture_output=True).returncode != 0:
        return
    for _ in range(30):
        listed = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True)
        if listed.returncode == 0:
            break
        time.sleep(2)  # the node accepts connections a little before rabbitmqctl works
    else:
        sys.exit("rabbitmqctl cannot reach the RabbitMQ node")
    if vhost not in listed.stdout.split():
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True)


def ensure_broker_users(instance: Instance, env: dict[str, str]) -> None:
    """Declare the topology as the administrator, then a user per process with only its rights."""
    if not broker_users_enabled():
        return
    sys.path.insert(0, str(ROOT / "shared"))
    import aio_pika
    from shared.broker_access import ensure_service_users
    from shared.bus import declare_topology

    async def declare() -> None:
        # queues with a dead-letter exchange need rights the service users do not have
        connection = await aio_pika.connect(env["RABBITMQ_URL"], timeout=30)
        try:
            await declare_topology(await connection.channel())
        finally:
            await connection.close()

    asyncio.run(declare())
    ensure_service_users(
        vhost=instance.vhost,
        prefix=instance.broker_user_prefix,
        passwords={u: env[f"{u.upper()}_RABBITMQ_PASSWORD"] for u in BROKER_USERS},
    )


# --- processes --------------------------------------------------------------------------------


def pid_file(instance: Instance, name: str) -> Path:
    return instance.var / "run" / f"{name}.pid"


def running_pid(instance: Instance, name: str) -> int | None:
    path = pid_file(instance, name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        if _zombie(pid):
            raise ProcessLookupError(pid)
    except (ValueError, ProcessLookupError, PermissionError):
        path.unlink(missing_ok=True)
        return None
    return pid


def _zombie(pid: int) -> bool:
    """A killed process nobody reaped yet (in a container PID 1 may never reap) still answers kill(0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def start(instance: Instance, process: Process, env: dict[str, str]) -> None:
    if running_pid(instance, process.name):
        print(f"  {process.name}: already running")
        return
    port = port_of(process, instance, env)
    if reachable("127.0.0.1", port):
        # someone else's process: waiting for "ready" would check the wrong server
        sys.exit(
            f"{process.name}: port {port} is already in use by another program "
            f"(another stack? try --instance NAME --port-offset N)"
        )
    (instance.var / "log").mkdir(parents=True, exist_ok=True)
    (instance.var / "run").mkdir(parents=True, exist_ok=True)
    (instance.var / "mail").mkdir(parents=True, exist_ok=True)
    log = (instance.var / "log" / f"{process.name}.log").open("ab")
    proc = subprocess.Popen(
        argv(process.command, port=port_of(process, instance, env), instance=instance),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file(instance, process.name).write_text(str(proc.pid))


def wait_ready(instance: Instance, processes: list[Process], env: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(processes)
    while pending:
        for process in list(pending):
            port = port_of(process, instance, env)
            if process.ready:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{process.ready}", timeout=2) as r:
                        ok = r.status == 200
                except (urllib.error.URLError, OSError):
                    ok = False
            else:
                ok = reachable("127.0.0.1", port)
            if ok:
                pending.remove(process)
            elif not running_pid(instance, process.name):
                log = instance.var / "log" / f"{process.name}.log"
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
                sys.exit(f"{process.name} exited during start-up; last log lines:\n{tail}")
        if pending and time.monotonic() > deadline:
            sys.exit("not ready in time: " + ", ".join(p.name for p in pending) + f" (logs in {instance.var / 'log'})")
        if pending:
            time.sleep(0.3)


def build_web() -> None:
    web = ROOT / "web"
    if (web / "dist" / "index.html").exists() or not (web / "package.json").exists():
        return
    if subprocess.run(["which", "npm"], capture_output=True).returncode != 0:
        print("  npm not found: the web app is not built (the API works without it)")
        return
    print("  building the web app (web/dist)")
    install = ["npm", "ci", "--no-audit", "--no-fund"] if (web / "package-lock.json").exists() else ["npm", "install"]
    subprocess.run(install, cwd=web, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["npm", "run", "build"], cwd=web, check=True, stdout=subprocess.DEVNULL)


def drop_database_and_vhost(instance: Instance, env: dict[str, str]) -> None:
    """Drop a separate instance's database (even with open connections) and its RabbitMQ vhost."""
    admin = env.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    drop = f"DROP DATABASE IF EXISTS {instance.database} WITH (FORCE)"
    subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import asyncio, asyncpg, sys\n"
            "async def main():\n"
            "    c = await asyncpg.connect(sys.argv[1]); await c.execute(sys.argv[2]); await c.close()\n"
            "asyncio.run(main())",
            admin,
            drop,
        ],
        check=True,
    )
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", instance.vhost], capture_output=True, check=False)
    for user in BROKER_USERS:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_user", f"{instance.broker_user_prefix}{user}"],
            capture_output=True,
            check=False,
        )


def _pg_query(env: dict[str, str], query: str, *args: str) -> list[str]:
    """Run one query as the admin (PG_ADMIN_DSN); the first column of every row, as text."""
    admin = env.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    result = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import asyncio, asyncpg, sys\n"
            "async def main():\n"
            "    c = await asyncpg.connect(sys.argv[1], timeout=5)\n"
            "    rows = await c.fetch(sys.argv[2], *sys.argv[3:]); await c.close()\n"
            "    print('\\n'.join(str(r[0]) for r in rows))\n"
            "asyncio.run(main())",
            admin,
            query,
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.split()


def connection_budget(processes: list[Process], env: dict[str, str]) -> tuple[int, int]:
    """(idle, busiest) Postgres connections the processes may hold (shared/shared/settings.py).

    A busy process keeps up to 2 x DB_POOL_SIZE plus DB_MAX_OVERFLOW, and one LISTEN
    connection for its outbox relay; an idle one trims its pool to one (DB_IDLE_TIMEOUT).
    """
    users = [p for p in processes if any(s.endswith("_DATABASE_URL") for s in p.settings)]
    pool = int(env.get("DB_POOL_SIZE", "10"))
    overflow = int(env.get("DB_MAX_OVERFLOW", "0"))
    return 2 * len(users), len(users) * (2 * pool + overflow + 1)


def check_connection_budget(processes: list[Process], env: dict[str, str]) -> None:
    """Refuse to start what the server's max_connections can never hold; warn when it is tight now."""
    try:
        limit = int(_pg_query(env, "SHOW max_connections")[0])
        reserved = int(_pg_query(env, "SHOW superuser_reserved_connections")[0])
        in_use = int(_pg_query(env, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0])
    except (subprocess.SubprocessError, ValueError) as exc:
        print(f"  (could not check the connection budget: {exc})")
        return
    idle, busiest = connection_budget(processes, env)
    usable = limit - reserved
    print(
        f"  postgres connections: this stack holds ~{idle} idle, up to {busiest} busy;"
        f" server max_connections {limit} ({reserved} reserved), {in_use} in use now"
    )
    if busiest > usable:
        sys.exit(
            f"the stack could open {busiest} Postgres connections but the server allows {usable}:"
            " lower DB_POOL_SIZE / DB_MAX_OVERFLOW, or put PgBouncer in front (deploy/README.md)"
        )
    if busiest > usable - in_use:
        print(
            f"  warning: only {usable - in_use} connection slots are free right now; under load"
            " requests answer 503 (Retry-After) rather than fail"
        )


def reset(instance: Instance, env: dict[str, str]) -> None:
    """Throw away a non-default instance's database, vhost and var/ folder (tests start clean)."""
    if instance.default:
        sys.exit("--fresh is only for separate instances; the default one keeps its data")
    drop_database_and_vhost(instance, env)
    for sub in ("mail", "log"):
        folder = instance.var / sub
        if folder.exists():
            for child in folder.iterdir():
                child.unlink()


def up(instance: Instance, *, web: bool, timeout: float, fresh: bool = False, setup: bool = True) -> None:
    setup_command, processes = load_processes()
    print(f"starting the helpdesk ({instance.name})")
    ensure_servers()
    env = process_env(instance, processes)
    processes = [p for p in processes if p.wanted(env)]
    if fresh:
        down(instance)
        reset(instance, env)
    check_connection_budget(processes, env)
    if setup:
        ensure_vhost(instance.vhost)
        ensure_broker_users(instance, env)
        subprocess.run(argv(setup_command), cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        for process in processes:
            if process.migrations:
                migrate = subprocess.run(
                    argv(process.migrations),
                    cwd=ROOT,
                    env=env_for(process, instance, env),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if migrate.returncode != 0:
                    sys.exit(f"{process.name}: migrations failed\n{migrate.stderr[-3000:]}")
    if web:
        build_web()
    for process in processes:
        start(instance, process, env_for(process, instance, env))
    wait_ready(instance, processes, env, timeout)
    by_name = {p.name: p for p in processes}
    gateway_port = port_of(by_name["gateway"], instance, env) if "gateway" in by_name else None
    print("ready:")
    if gateway_port:
        print(f"  web app and API   http://127.0.0.1:{gateway_port}/")
        print(f"  API docs          http://127.0.0.1:{gateway_port}/docs")
    if "smtp-sink" in by_name:
        print(
            f"  mail (SMTP sink)  127.0.0.1:{port_of(by_name['smtp-sink'], instance, env)} -> {instance.var / 'mail'}"
        )
    if "mail-in" in by_name:
        # the exact "inbound mail  127.0.0.1:PORT" form is what docs and scripts look for
        print(f"  inbound mail  127.0.0.1:{env['MAIL_IN_PORT']}  (SMTP; support address {env['SUPPORT_ADDRESS']})")
    print(f"  logs              {instance.var / 'log'}")
    print(f"  admin             {env.get('BOOTSTRAP_ADMIN_EMAIL')} (password in {instance.env_file.relative_to(ROOT)})")


def down(instance: Instance) -> None:
    _, processes = load_processes()
    stopped = []
    for process in reversed(processes):
        pid = running_pid(instance, process.name)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        stopped.append((process.name, pid))
    deadline = time.monotonic() + 15
    for name, pid in stopped:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            if _zombie(pid):
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pid_file(instance, name).unlink(missing_ok=True)
    print("stopped: " + (", ".join(name for name, _ in stopped) or "nothing was running"))


def purge(instance: Instance) -> None:
    """Stop a non-default instance and drop its database and vhost (its logs stay in var/)."""
    if instance.default:
        sys.exit("purge is only for separate instances; the default one keeps its data")
    down(instance)
    drop_database_and_vhost(instance, {**read_env_file(instance.env_file), **os.environ})
    print(f"purged instance {instance.name} (logs kept in {instance.var})")


def status(instance: Instance) -> None:
    _, processes = load_processes()
    for process in processes:
        pid = running_pid(instance, process.name)
        print(f"{process.name:10} {'running pid ' + str(pid) if pid else 'stopped'}")
    env = {**read_env_file(instance.env_file), **os.environ}
    try:
        rows = _pg_query(
            env,
            "SELECT who || '=' || n FROM (SELECT coalesce(nullif(application_name, ''), usename) AS who,"
            " count(*) AS n FROM pg_stat_activity WHERE datname = $1 GROUP BY 1) AS c ORDER BY who",
            instance.database,
        )
    except subprocess.SubprocessError as exc:
        print(f"postgres connections: unknown ({exc})")
        return
    total = sum(int(row.rsplit("=", 1)[1]) for row in rows)
    print(f"postgres connections to {instance.database}: {total} ({', '.join(rows) or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the helpdesk as local processes.")
    parser.add_argument("action", choices=["up", "down", "status", "purge"])
    parser.add_argument("--instance", default=os.environ.get("STACK_INSTANCE", "default"))
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("STACK_PORT_OFFSET", "0")))
    parser.add_argument("--no-web", action="store_true", help="do not build the web app")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--fresh", action="store_true", help="start a non-default instance from empty")
    parser.add_argument(
        "--skip-setup",
        action="store_true",
        help="only start processes that are not running (no roles, vhost or migrations)",
    )
    args = parser.parse_args()
    instance = Instance(args.instance, args.port_offset)
    if args.action == "up":
        up(instance, web=not args.no_web, timeout=args.timeout, fresh=args.fresh, setup=not args.skip_setup)
    elif args.action == "down":
        down(instance)
    elif args.action == "purge":
        purge(instance)
    else:
        status(instance)


if __name__ == "__main__":
    main()
