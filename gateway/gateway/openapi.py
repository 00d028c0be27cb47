"""One OpenAPI document of the public API, merged from the services' own documents.

Fetched lazily on the first request and cached; a service that is down is left out (its
absence is named in the description) and asked again after `retry_s` on a later request.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import aiohttp
from shared.logging import get_logger

from gateway.routes import Access, openapi_access

log = get_logger(__name__)

SECURITY_SCHEME = "bearerAuth"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array", "items": {}}, "msg": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}
_GATEWAY_RESPONSES = {
    "400": "The body is not valid JSON.",
    "401": "Missing, expired, revoked or invalid access token.",
    "403": "The caller's role may not use this route.",
    "404": "No such resource, or one the caller may not see.",
    "409": "The change conflicts with the resource's state.",
    "429": "Too many requests; see Retry-After.",
    "413": "The request body is larger than the limit.",
    "502": "The service broke the connection before answering; the request may have taken effect.",
    "503": "The service behind this route is unavailable.",
    "504": "The service behind this route did not answer in time.",
}


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge_documents(
    documents: dict[str, dict[str, Any]], *, missing: list[str], title: str = "Helpdesk API"
) -> dict[str, Any]:
    """Merge the services' documents: /api paths only, components merged, the gateway's security."""
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {"schemas": {"Problem": PROBLEM_SCHEMA}}
    tags: dict[str, dict[str, Any]] = {}
    for service, original in sorted(documents.items()):
        document = copy.deepcopy(original)
        theirs = document.get("components") or {}
        renames: dict[str, str] = {}
        for kind, entries in theirs.items():
            if kind == "securitySchemes" or not isinstance(entries, dict):
                continue
            ours = components.setdefault(kind, {})
            for name, value in entries.items():
                if name in ours and ours[name] != value:
                    # same name, other meaning: keep both, the service's one under a prefixed name
                    new_name = f"{service.capitalize()}{name}"
                    renames[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{new_name}"
        document = _rewrite_refs(document, renames)
        for kind, entries in (document.get("components") or {}).items():
            if kind == "securitySchemes" or not isinstance(entries, dict):
                continue
            ours = components.setdefault(kind, {})
            for name, value in entries.items():
                target = renames.get(f"#/components/{kind}/{name}", f"#/components/{kind}/{name}")
                ours[target.rsplit("/", 1)[1]] = value
        for tag in document.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
        for path, item in (document.get("paths") or {}).items():
            if not (path == "/api" or path.startswith("/api/")) or not isinstance(item, dict):
                continue
            merged_item = paths.setdefault(path, {})
            for method, operation in item.items():
                if method not in HTTP_METHODS or not isinstance(operation, dict):
                    merged_item[method] = operation
                    continue
                merged_item[method] = _secure(method, path, operation, service)
    description = "The public API of the helpdesk, served by the gateway."
    if missing:
        description += " Not shown (service unavailable, retried later): " + ", ".join(sorted(missing)) + "."
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/auth/login or /api/auth/signup.",
        }
    }
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "paths": dict(sorted(paths.items())),
        "components": components,
    }
    if tags:
        merged["tags"] = list(tags.values())
    if missing:
        merged["x-unavailable-services"] = sorted(missing)
    return merged


def _secure(method: str, path: str, operation: dict[str, Any], service: str) -> dict[str, Any]:
    access = openapi_access(method, path)
    operation = dict(operation)
    operation.setdefault("tags", [service])
    responses = dict(operation.get("responses") or {})
    for status, response in list(responses.items()):
        # every error of the system is a problem document (shared.problems), whatever the
        # service's framework declared (FastAPI says application/json HTTPValidationError)
        if status[:1] in ("4", "5") and isinstance(response, dict) and "$ref" not in response:
            description = response.get("description") or "Error"
            responses[status] = _problem_response(description)
    if access is Access.PUBLIC:
        operation["security"] = []
        responses.setdefault("429", _problem_response(_GATEWAY_RESPONSES["429"]))
    else:
        operation["security"] = [{SECURITY_SCHEME: []}]
        responses.setdefault("401", _problem_response(_GATEWAY_RESPONSES["401"]))
        # the gateway refuses admin routes; the services refuse by role or ownership elsewhere
        responses.setdefault("403", _problem_response(_GATEWAY_RESPONSES["403"]))
    # what routes answer through the shared stack: object checks 404 (never revealing a hidden
    # id), state checks 409, quotas and throttles 429, broken JSON 400
    if "{" in path:
        responses.setdefault("404", _problem_response(_GATEWAY_RESPONSES["404"]))
    if method in ("post", "put", "patch"):
        responses.setdefault("400", _problem_response(_GATEWAY_RESPONSES["400"]))
        responses.setdefault("409", _problem_response(_GATEWAY_RESPONSES["409"]))
        responses.setdefault("413", _problem_response(_GATEWAY_RESPONSES["413"]))
        responses.setdefault("429", _problem_response(_GATEWAY_RESPONSES["429"]))
    responses.setdefault("502", _problem_response(_GATEWAY_RESPONSES["502"]))
    responses.setdefault("503", _problem_response(_GATEWAY_RESPONSES["503"]))
    responses.setdefault("504", _problem_response(_GATEWAY_RESPONSES["504"]))
    operation["responses"] = responses
    return operation


class OpenApiCache:
    """The merged document; services' documents are fetched once, failures retried later."""

    def __init__(self, *, session: aiohttp.ClientSession, upstreams: dict[str, str], retry_s: float) -> None:
        self._session = session
        self._upstreams = upstreams
        self._retry_s = retry_s
        self._documents: dict[str, dict[str, Any]] = {}
        self._failed_at: dict[str, float] = {}
        self._merged: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            due = [
                name
                for name in self._upstreams
                if name not in self._documents and now - self._failed_at.get(name, -1e9) >= self._retry_s
            ]
            if due or self._merged is None:
                results = await asyncio.gather(*(self._fetch(name) for name in due))
                for name, document in zip(due, results, strict=True):
                    if document is None:
                        self._failed_at[name] = time.monotonic()
                    else:
                        self._documents[name] = document
                        self._failed_at.pop(name, None)
                missing = [name for name in self._upstreams if name not in self._documents]
                self._merged = merge_documents(self._documents, missing=missing)
            return self._merged

    async def _fetch(self, name: str) -> dict[str, Any] | None:
        try:
            async with self._session.get(
                f"{self._upstreams[name]}/openapi.json", timeout=aiohttp.ClientTimeout(total=5, connect=2)
            ) as response:
                if response.status != 200:
                    return None
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("openapi_fetch_failed", upstream=name, error=type(exc).__name__)
            return None
        return document if isinstance(document, dict) else None
