"""One OpenAPI 3.1 document for every published capability, so any OpenAPI client can call them all.

Each capability is one path, `POST /capabilities/{name}/v{version}/invoke`, whose request body is the
capability's input schema and whose 200 response wraps its output schema in the gateway's envelope.
OpenAPI 3.1 uses JSON Schema 2020-12 directly, so the stored schemas go in unchanged. Deprecated
capabilities stay listed, marked `deprecated: true`, for the grants that still use them; drafts are not.
"""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.catalog import CapabilityPublic, list_capabilities

SECURITY_SCHEME = "ApiKey"


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(cap: CapabilityPublic) -> dict[str, Any]:
    envelope = {
        "type": "object",
        "properties": {
            "capability": {"type": "string", "const": cap.name},
            "version": {"type": "integer", "const": cap.version},
            "data": cap.output_schema or {},
            "rows": {"type": ["integer", "null"]},
            "truncated": {"type": "boolean"},
        },
        "required": ["capability", "version", "data"],
    }
    summary = cap.title_en or cap.name
    if cap.title_zh and cap.title_zh != summary:
        summary = f"{summary} / {cap.title_zh}"
    extra = {"502": _error("the department service behind the capability failed or refused the call")} \
        if cap.kind == "http_proxy" else {}
    return {
        "operationId": f"{cap.name}_v{cap.version}",
        "summary": summary,
        "description": "\n\n".join(d for d in (cap.description_en, cap.description_zh) if d),
        "tags": [cap.category],
        "deprecated": cap.status == "deprecated",
        "security": [{SECURITY_SCHEME: []}],
        "x-owner": cap.owner,
        "x-kind": cap.kind,
        # the gateway reads an empty body as `{}`: a capability without required parameters needs none
        "requestBody": {"required": False,
                        "content": {"application/json": {"schema": cap.input_schema or {"type": "object"}}}},
        "responses": {
            "200": {"description": "the capability's answer",
                    "content": {"application/json": {"schema": envelope}}},
            "401": _error("missing, unknown, revoked or expired API key"),
            "403": _error("no approved, unexpired grant for this capability"),
            "404": _error("no such published capability"),
            "422": _error("a parameter does not match the input schema (the body names it)"),
            "429": {**_error("quota exceeded"), "headers": {"Retry-After": {
                "description": "seconds until the quota window reopens", "schema": {"type": "integer"}}}},
            "504": _error("the department service behind the capability timed out"),
            **extra,
        },
    }


def openapi_document(server_url: str | None = None, version: str = "0") -> dict[str, Any]:
    """The catalog as OpenAPI 3.1: one path per published (or deprecated) capability, key in X-API-Key."""
    caps = [c for c in list_capabilities() if c.status in ("published", "deprecated")]
    paths = {c.path: {"post": _operation(c)} for c in caps}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "urbanbrain capabilities",
            "version": version,
            "description": "Every capability the city publishes, callable with an API key and an approved grant.",
        },
        "paths": paths,
        "tags": [{"name": t} for t in sorted({c.category for c in caps})],
        "components": {
            "securitySchemes": {SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {"Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                               "hint": {"type": ["string", "null"]}, "transient": {"type": "boolean"},
                               "parameter": {"type": "string"}, "retry_after": {"type": "string"}},
                "required": ["error", "message"],
            }},
        },
        "security": [{SECURITY_SCHEME: []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url.rstrip("/")}]
    return doc
