"""deploy/k8s: both overlays render (`kubectl kustomize`), every object passes the schema check,
and they run what processes.toml lists, with the probes, limits, scaling and network rules the
architecture asks for."""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared.settings import ServiceSettings

from .conftest import DEPLOY, OVERLAYS, TOOLS_DIR, Process, by_kind, run, tool

Obj = dict[str, Any]
SERVICES = ("auth", "tickets", "triage", "notifier")


def container(obj: Obj) -> Obj:
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    only: Obj = containers[0]
    return only


def env_names(c: Obj) -> list[str]:
    return [e["name"] for e in c.get("env", [])]


@pytest.fixture(scope="session")
def schema_check(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """deploy/k8s/validate.py over both overlays and a deliberately broken copy, in one run."""
    tool("kubectl")  # installs the tools venv if needed
    folder = tmp_path_factory.mktemp("rendered")
    broken = rendered["prod"].replace("terminationGracePeriodSeconds:", "terminationGracePeriod:", 1)
    broken = broken.replace("protocol: http", "protocol: gopher", 1)
    files = {**rendered, "broken": broken}
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    result = run(
        [
            str(TOOLS_DIR / "bin" / "python"),
            str(DEPLOY / "k8s" / "validate.py"),
            *(str(folder / f"{name}.yaml") for name in files),
        ]
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_passes_the_schema_check(overlay: str, schema_check: str) -> None:
    problems = [line for line in schema_check.splitlines() if f"/{overlay}.yaml: " in line]
    assert problems == []
    assert "objects" in schema_check.splitlines()[-1]


def test_the_schema_check_rejects_a_broken_object(schema_check: str) -> None:
    problems = [line for line in schema_check.splitlines() if "/broken.yaml: " in line]
    assert any("terminationGracePeriod" in line for line in problems), schema_check
    assert any("gopher" in line for line in problems), schema_check
    assert len(problems) == 2, problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_same_processes_commands_and_settings_names_as_make_up(
    overlay: str,
    manifests: dict[str, list[Obj]],
    container_processes: list[Process],
) -> None:
    deployments = by_kind(manifests[overlay], "Deployment")
    for p in container_processes:
        c = container(deployments[p.name])
        assert c["command"] == p.container_command, p.name
        assert "args" not in c
        names = env_names(c)
        assert len(names) == len(set(names)), p.name
        assert set(p.settings) <= set(names), f"{p.name}: missing {set(p.settings) - set(names)}"
        assert set(names) <= set(p.settings) | set(p.optional_settings), p.name
        assert c["ports"][0] == {"name": "http", "containerPort": p.port, "protocol": "TCP"}
        # mail-in also listens for SMTP; nothing else has a second port
        extra = [{"name": "smtp", "containerPort": 2525, "protocol": "TCP"}] if p.name == "mail-in" else []
        assert c["ports"][1:] == extra, p.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_resources_shutdown_and_security(
    overlay: str,
    manifests: dict[str, list[Obj]],
    container_processes: list[Process],
) -> None:
    deployments = by_kind(manifests[overlay], "Deployment")
    for p in container_processes:
        pod = deployments[p.name]["spec"]["template"]["spec"]
        c = container(deployments[p.name])
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        for kind in ("requests", "limits"):
            assert set(c["resources"][kind]) == {"cpu", "memory"}, p.name
        # long enough for the preStop pause plus in-flight messages
        assert pod["terminationGracePeriodSeconds"] >= 30
        assert c["lifecycle"]["preStop"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["automountServiceAccountToken"] is False
    triage = deployments["triage"]["spec"]["template"]["spec"]
    assert triage["terminationGracePeriodSeconds"] >= 90  # a Gemini call with its retries


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_values_come_from_the_configmap_or_referenced_secrets(
    overlay: str,
    manifests: dict[str, list[Obj]],
) -> None:
    objects = manifests[overlay]
    assert not by_kind(objects, "Secret"), "secrets are referenced, never rendered"
    configmaps = by_kind(objects, "ConfigMap")
    ours = {"dbsetup", *SERVICES, "gateway", *(f"{s}-migrate" for s in SERVICES)}
    make_secrets = (DEPLOY / "k8s" / "make-secrets.sh").read_text()
    for kind in ("Deployment", "Job", "StatefulSet"):
        for name, obj in by_kind(objects, kind).items():
            for c in obj["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    source = e.get("valueFrom", {})
                    if "configMapKeyRef" in source:
                        ref = source["configMapKeyRef"]
                        assert e["name"] in configmaps[ref["name"]]["data"], (name, e["name"])
                    elif "secretKeyRef" in source:
                        ref = source["secretKeyRef"]
                        assert re.search(rf"\b{ref['name']}\b", make_secrets), ref["name"]
                        assert re.search(rf"\b{ref['key']}\b", make_secrets), ref["key"]
                    else:
                        # only the dev overlay's own Postgres/Mailpit set plain values
                        assert name not in ours, f"{name}: {e['name']} is inline"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_per_service_and_the_database_setup(
    overlay: str,
    manifests: dict[str, list[Obj]],
    container_processes: list[Process],
    setup_step: dict[str, Any],
) -> None:
    jobs = by_kind(manifests[overlay], "Job")
    deployments = by_kind(manifests[overlay], "Deployment")
    for p in container_processes:
        if not p.migrations:
            continue
        c = container(jobs[f"{p.name}-migrate"])
        assert c["command"] == p.migrations
        assert c["image"] == container(deployments[p.name])["image"]
        assert c["env"] == container(deployments[p.name])["env"]
    setup = container(jobs["dbsetup"])
    assert setup["command"] == setup_step["command"]
    assert set(env_names(setup)) == set(setup_step["settings"])
    assert set(jobs) == {"dbsetup", *(f"{p.name}-migrate" for p in container_processes if p.migrations)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_and_services(
    overlay: str,
    manifests: dict[str, list[Obj]],
    container_processes: list[Process],
) -> None:
    pdbs = by_kind(manifests[overlay], "PodDisruptionBudget")
    services = by_kind(manifests[overlay], "Service")
    for p in container_processes:
        assert pdbs[p.name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": p.name}
        assert services[p.name]["spec"]["ports"][0]["port"] == p.port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triage_scales_on_its_queue_and_the_gateway_on_cpu(
    overlay: str,
    manifests: dict[str, list[Obj]],
) -> None:
    objects = manifests[overlay]
    scaled = by_kind(objects, "ScaledObject")
    assert set(scaled) == {"triage"}
    spec = scaled["triage"]["spec"]
    assert spec["scaleTargetRef"]["name"] == "triage"
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    # http: the management API's count includes unacknowledged (in-flight) messages
    assert trigger["metadata"]["protocol"] == "http"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["queueName"] == "triage"
    assert trigger["authenticationRef"]["name"] in by_kind(objects, "TriggerAuthentication")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == {"gateway"}
    assert hpas["gateway"]["spec"]["scaleTargetRef"]["name"] == "gateway"
    deployments = by_kind(objects, "Deployment")
    # replicas of autoscaled Deployments belong to the autoscaler
    assert "replicas" not in deployments["triage"]["spec"]
    assert "replicas" not in deployments["gateway"]["spec"]


# --- NetworkPolicy: which connections the rendered policies allow --------------------------


def _selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and labels.get(expr["key"]) in expr["values"]:
            return False
        if expr["operator"] == "Exists" and not present:
            return False
    return True


def _peer_matches(peer: Obj, pod: Obj, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        return bool(pod["external"])
    if pod["external"]:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], pod["ns_labels"]):
            return False
    elif pod["ns"] != policy_ns:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], pod["labels"])


def _rule_allows(rule: Obj, peers_key: str, peer: Obj, port: int, ns: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") == port for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(x, peer, ns) for x in peers)


def allowed(policies: list[Obj], src: Obj, dst: Obj, port: int) -> bool:
    def side(pod: Obj, direction: str, other: Obj) -> bool:
        if pod["external"]:
            return True
        relevant = [
            p
            for p in policies
            if p["metadata"]["namespace"] == pod["ns"]
            and direction in p["spec"]["policyTypes"]
            and _selects(p["spec"]["podSelector"], pod["labels"])
        ]
        if not relevant:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        return any(
            _rule_allows(rule, peers_key, other, port, p["metadata"]["namespace"])
            for p in relevant
            for rule in p["spec"].get(key, [])
        )

    return side(src, "Egress", dst) and side(dst, "Ingress", src)


def pods_of(objects: list[Obj], namespace: str) -> dict[str, Obj]:
    ns_labels = {"kubernetes.io/metadata.name": namespace}
    pods = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            pods[obj["metadata"]["name"]] = {
                "labels": labels,
                "ns": namespace,
                "ns_labels": ns_labels,
                "external": False,
            }
    # where the datastores are when the overlay does not run them (prod): another namespace
    data_ns = {"kubernetes.io/metadata.name": "data"}
    for name in ("postgres", "rabbitmq"):
        pods.setdefault(
            name, {"labels": {"app.kubernetes.io/name": name}, "ns": "data", "ns_labels": data_ns, "external": False}
        )
    pods["otel-collector"] = {
        "labels": {"app.kubernetes.io/name": "opentelemetry-collector"},
        "ns": "observability",
        "ns_labels": {"kubernetes.io/metadata.name": "observability"},
        "external": False,
    }
    pods["internet"] = {"labels": {}, "ns": "", "ns_labels": {}, "external": True}
    pods["intruder"] = {
        "labels": {"app.kubernetes.io/name": "intruder"},
        "ns": namespace,
        "ns_labels": ns_labels,
        "external": False,
    }
    return pods


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_only_the_calls_of_the_architecture(
    overlay: str,
    manifests: dict[str, list[Obj]],
) -> None:
    objects = manifests[overlay]
    namespace = by_kind(objects, "Deployment")["gateway"]["metadata"]["namespace"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    pods = pods_of(objects, namespace)
    ports = {
        "gateway": 8000,
        "auth": 8101,
        "tickets": 8102,
        "triage": 8103,
        "notifier": 8104,
        "postgres": 5432,
        "pgbouncer": 6432,
        "rabbitmq": 5672,
        "mailpit": 1025,
        "mail-in": 2525,
    }
    smtp = [1025] if overlay == "dev" else [25, 465, 587]
    # the gateway is the entry: anything outside the namespace may call it
    expected = {(name, "gateway", 8000) for name, pod in pods.items() if pod["ns"] != namespace}
    expected |= {("gateway", s, ports[s]) for s in SERVICES}
    expected |= {(s, "rabbitmq", 5672) for s in (*SERVICES, "gateway")}
    # services and their migrations through PgBouncer; only it and dbsetup reach Postgres
    expected |= {(s, "pgbouncer", 6432) for s in SERVICES}
    expected |= {(f"{s}-migrate", "pgbouncer", 6432) for s in SERVICES}
    expected |= {("pgbouncer", "postgres", 5432), ("dbsetup", "postgres", 5432)}
    expected |= {("triage", "internet", 443)}
    # traces by OTLP/HTTP to a collector (when OTEL_EXPORTER_OTLP_ENDPOINT is set)
    expected |= {(s, "otel-collector", 4318) for s in (*SERVICES, "gateway", "mail-in")}
    # mail-in: SMTP in from anywhere, the tickets database, auth's requester route, IMAP out
    expected |= {(name, "mail-in", 2525) for name, pod in pods.items() if pod["ns"] != namespace}
    expected |= {("mail-in", "pgbouncer", 6432), ("mail-in", "auth", 8101), ("mail-in", "internet", 993)}
    # the tickets relay alone (0 replicas unless OUTBOX_RELAY=off): its database and the broker
    expected |= {("tickets-relay", "pgbouncer", 6432), ("tickets-relay", "rabbitmq", 5672)}
    expected |= {("notifier", "mailpit" if overlay == "dev" else "internet", p) for p in smtp}
    if overlay == "dev":
        # Mailpit's web UI answers anyone outside the namespace (the internet, a collector's namespace)
        expected |= {(name, "mailpit", 8025) for name, pod in pods.items() if pod["ns"] != namespace}
    found = set()
    candidate_ports = sorted({*ports.values(), 25, 443, 465, 587, 993, 4318, 8025, 15672})
    for src in pods:
        for dst in pods:
            if src == dst or namespace not in (pods[src]["ns"], pods[dst]["ns"]):
                continue  # only what this namespace's policies govern
            for port in candidate_ports:
                if allowed(policies, pods[src], pods[dst], port):
                    found.add((src, dst, port))
    # the datastores and the catcher answer but never call out (DNS aside)
    assert found == expected, f"unexpected: {sorted(found - expected)}; missing: {sorted(expected - found)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_tagged_and_everything_is_namespaced(
    overlay: str,
    manifests: dict[str, list[Obj]],
) -> None:
    for obj in manifests[overlay]:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == f"helpdesk{'-dev' if overlay == 'dev' else ''}"
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            for c in obj["spec"]["template"]["spec"]["containers"]:
                assert ":" in c["image"], c["image"]
                if "helpdesk/" in c["image"]:  # ours: a release, never a moving tag
                    assert not c["image"].endswith(":latest"), c["image"]


# --- make-secrets.sh: the Secrets it makes are the ones the manifests reference ---------------


def make_secrets(tmp_path: Path, *args: str, **env: str) -> dict[str, dict[str, str]]:
    """Run deploy/k8s/make-secrets.sh with a kubectl that renders instead of applying."""
    applied = tmp_path / "applied.yaml"
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/bin/bash\n"
        f'case "$*" in\n'
        f'  *"create secret"*) exec "{tool("kubectl")}" "$@" ;;\n'
        f'  "apply -f -") cat >> "{applied}"; echo "---" >> "{applied}" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    result = run(
        ["bash", str(DEPLOY / "k8s" / "make-secrets.sh"), *args],
        env={"PATH": os.environ["PATH"], "KUBECTL": str(fake), "KUBECONFIG": os.devnull, **env},
    )
    assert result.returncode == 0, result.stderr
    secrets = {}
    for doc in yaml.safe_load_all(applied.read_text()):
        if doc:
            secrets[doc["metadata"]["name"]] = {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
    return secrets


def resolved_env(c: Obj, configmaps: dict[str, Obj], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env = {}
    for e in c.get("env", []):
        source = e.get("valueFrom", {})
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[e["name"]] = configmaps[ref["name"]]["data"][ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secrets.get(ref["name"], {}).get(ref["key"])
            if value is None:
                assert ref.get("optional"), f"secret {ref['name']}/{ref['key']} is not made"
                continue
            env[e["name"]] = value
        else:
            env[e["name"]] = e["value"]
    return env


def test_dev_secrets_cover_every_reference(
    tmp_path: Path,
    manifests: dict[str, list[Obj]],
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed by make-secrets.sh")
    secrets = make_secrets(tmp_path, "helpdesk-dev", "--dev")
    objects = manifests["dev"]
    configmaps = by_kind(objects, "ConfigMap")
    for kind in ("Deployment", "Job", "StatefulSet"):
        for obj in by_kind(objects, kind).values():
            for c in obj["spec"]["template"]["spec"]["containers"]:
                resolved_env(c, configmaps, secrets)
                for source in c.get("envFrom", []):
                    assert source["secretRef"]["name"] in secrets
    users = secrets["helpdesk-rabbitmq-users"]
    assert set(users) == {
        f"{u}_RABBITMQ_PASSWORD" for u in ("ADMIN", "AUTH", "TICKETS", "TRIAGE", "NOTIFIER", "GATEWAY", "MONITOR")
    }
    assert secrets["helpdesk-keda-rabbitmq"]["host"] == (
        f"http://monitor:{users['MONITOR_RABBITMQ_PASSWORD']}@rabbitmq:15672/"
    )


def test_prod_manifests_with_made_secrets_pass_every_services_production_checks(
    tmp_path: Path,
    manifests: dict[str, list[Obj]],
    container_processes: list[Process],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed by make-secrets.sh")
    secrets = make_secrets(
        tmp_path,
        "helpdesk",
        PG_HOST="db.internal",
        PG_ADMIN_DSN="postgresql://postgres:x@db.internal/postgres",
        RABBITMQ_HOST="mq.internal",
    )
    objects = manifests["prod"]
    configmaps = by_kind(objects, "ConfigMap")
    deployments = by_kind(objects, "Deployment")
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for p in container_processes:
        env = resolved_env(container(deployments[p.name]), configmaps, secrets)
        assert env["ENVIRONMENT"] == "production"
        module = importlib.import_module(p.settings_module)
        settings_class = next(
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
        )
        with monkeypatch.context() as m:
            for name in list(os.environ):
                if name.isupper() and name not in ("PATH", "HOME"):
                    m.delenv(name)
            for name, value in env.items():
                m.setenv(name, value)
            assert settings_class().production, p.name
