"""Validate rendered manifests: every object against the Kubernetes schemas (kubernetes-validate,
strict: unknown fields are errors), KEDA's custom resources against the essentials below.

Runs with the tools venv that deploy/install-tools.sh makes:
    kubectl kustomize deploy/k8s/overlays/prod | ~/.cache/helpdesk/tools/bin/python deploy/k8s/validate.py -
Several files may be given; prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import yaml

# kubernetes-validate reads and parses its (large) definitions file for every object: once is enough
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KUBERNETES_VERSION = "1.32.0"  # the oldest minor we claim to support; newer ones accept it too

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "namespace": _NAME},
}

# KEDA v2 (keda.sh/v1alpha1): the fields we use, with their types and allowed values.
KEDA_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "name": _NAME,
                            "envSourceContainerName": {"type": "string"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "idleReplicaCount": {"type": "integer", "minimum": 0},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                    "fallback": {"type": "object"},
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "restoreToOriginalReplicaCount": {"type": "boolean"},
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "behavior": {"type": "object"},
                                },
                            },
                            "scalingModifiers": {"type": "object"},
                        },
                    },
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"type": "string"},
                                "name": {"type": "string"},
                                "useCachedMetrics": {"type": "boolean"},
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                # trigger metadata values are strings, always
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": _NAME,
                                        "kind": {
                                            "enum": [
                                                "TriggerAuthentication",
                                                "ClusterTriggerAuthentication",
                                            ]
                                        },
                                    },
                                },
                            },
                            "allOf": [
                                {
                                    "if": {"properties": {"type": {"const": "rabbitmq"}}},
                                    "then": {
                                        "properties": {
                                            "metadata": {
                                                "required": ["protocol", "mode", "value", "queueName"],
                                                "properties": {
                                                    "protocol": {"enum": ["amqp", "http", "auto"]},
                                                    "mode": {"enum": ["QueueLength", "MessageRate"]},
                                                    "value": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                                },
                                            }
                                        }
                                    },
                                }
                            ],
                        },
                    },
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "minProperties": 1,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": _NAME,
                                "key": {"type": "string"},
                            },
                        },
                    },
                    "env": {"type": "array"},
                    "hashiCorpVault": {"type": "object"},
                    "podIdentity": {"type": "object"},
                },
            },
        },
    },
}


def problems(documents: list[dict[str, Any]]) -> list[str]:
    """Every schema violation in the given objects, as `kind/name: message` lines."""
    found = []
    for doc in documents:
        kind, name = doc.get("kind", "?"), (doc.get("metadata") or {}).get("name", "?")
        if doc.get("apiVersion", "").startswith("keda.sh/"):
            schema = KEDA_SCHEMAS.get(kind)
            if schema is None:
                found.append(f"{kind}/{name}: no schema for this KEDA kind")
                continue
            validator = jsonschema.Draft202012Validator(schema)
            found += [f"{kind}/{name}: {'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{kind}/{name}: {'/'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{kind}/{name}: no Kubernetes schema for {doc.get('apiVersion')}")
    return found


def main(argv: list[str]) -> int:
    """Validate each file (`-`: standard input); problem lines start with the file's name."""
    total_objects = total_problems = 0
    for source in argv or ["-"]:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
        documents = [d for d in yaml.load_all(text, Loader=_Loader) if d]
        found = problems(documents)
        for line in found:
            print(f"{source}: {line}")
        total_objects += len(documents)
        total_problems += len(found)
    print(f"{total_objects} objects, {total_problems} problems")
    return 1 if total_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
