"""Every operation's OpenAPI entry declares each error status it can answer, with the one `Error` schema.

`document_errors` post-processes a whole document (the app's `/openapi.json`, the gateway's
`/capabilities/openapi.json`), so routes added later are documented without anyone listing statuses by
hand: what an operation can answer follows from what it takes (a body can be unreadable or too large, a
signed-in route can refuse, a write can conflict, anything can hit an outage or a bug). A route declares
only its unusual statuses, e.g. the systems' `responses={424: {...}, 502: {...}}`, and gets the schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from urbanbrain.web.errors import ErrorFormat

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error the API answers: what went wrong, what to do next, and whether retrying helps.",
    "properties": {
        "error": {"type": "string", "description": "the error's class, e.g. NotFoundError"},
        "message": {"type": "string"},
        "hint": {"type": ["string", "null"], "description": "what to do next"},
        "transient": {"type": "boolean", "description": "whether the same request may succeed later"},
        "parameter": {"type": "string", "description": "the request field at fault, when there is one"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error", "message", "hint"],
    "additionalProperties": True,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
DESCRIPTIONS = {
    400: "the body is not JSON, nests too deeply, is not a JSON object, or the query is malformed",
    401: "no valid credentials: log in, or send Authorization: Bearer <personal token>",
    403: "signed in, but not allowed to do this",
    404: "no such resource (named in the path or the body)",
    405: "the path does not take this method",
    409: "conflicts with the current state (a name in use, a sync already running)",
    413: "the body is over the API's size limit",
    422: "a field is out of its bounds or the request is otherwise invalid (the body names it)",
    424: "the department system refused its stored credentials",
    429: "too many requests; Retry-After says when to try again",
    500: "a bug; the server log has the details",
    502: "the department system behind this answered badly",
    503: "a dependency is down (metadata database, Redis, NATS, a department system); retry after Retry-After",
    504: "a department system did not answer in time",
}
_WRITES = {"post", "put", "patch", "delete"}


def error_statuses(method: str, operation: dict[str, Any], *, open_path: bool, conflicts: bool = True) -> list[int]:
    """The error statuses any operation of the platform can answer, from what it takes: a body can be
    unreadable or too large, a signed-in route can refuse, a write can conflict; anything can fail."""
    statuses = {422, 500, 503}
    if not open_path:
        statuses |= {401, 403, 404}
    if "requestBody" in operation:
        statuses |= {400, 413}
    if conflicts and method in _WRITES:
        statuses.add(409)
    return sorted(statuses)


def _error_response(status: int, existing: dict[str, Any] | None, schema: dict[str, Any]) -> dict[str, Any]:
    entry = dict(existing or {})
    if entry.get("description") in (None, "", "Validation Error"):  # FastAPI's, for a body we never send
        entry["description"] = DESCRIPTIONS.get(status, "error")
    entry["content"] = {"application/json": {"schema": schema}}
    if status in (429, 503):
        entry["headers"] = {**RETRY_AFTER, **entry.get("headers", {})}
    return entry


def document_errors(doc: dict[str, Any], *, open_paths: Iterable[str] = (),
                    own_formats: Iterable[ErrorFormat] = (), conflicts: bool = True) -> dict[str, Any]:
    """Declare on every operation of an OpenAPI document each error status it can answer, all with the
    one `Error` schema (replacing FastAPI's `HTTPValidationError`, which the API never sends). Statuses a
    route declared itself (e.g. `responses={424: {...}}`) keep their description and get the schema.
    Operations under an `ErrorFormat`'s prefix get that format's schema instead (or are left alone).
    `conflicts=False` for documents whose writes cannot conflict (the gateway's calls change nothing)."""
    opened = set(open_paths)
    formats = list(own_formats)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, item in doc.get("paths", {}).items():
        own = next((f for f in formats if path == f.prefix or path.startswith(f.prefix.rstrip("/") + "/")), None)
        if own is not None and own.schema is None:
            continue
        schema = own.schema if own is not None and own.schema is not None else ERROR_REF
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options") or \
                    not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(s) for s in responses if str(s).isdigit() and int(s) >= 400}
            for status in sorted(declared | set(error_statuses(method, operation, open_path=path in opened,
                                                                         conflicts=conflicts))):
                responses[str(status)] = _error_response(status, responses.get(str(status)), schema)
            operation["responses"] = dict(sorted(responses.items()))
    text = repr(doc.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            components.pop(unused, None)
    return doc


def install_openapi(app: FastAPI, open_paths: Iterable[str] = ()) -> None:
    """Make `app.openapi()` (served at /openapi.json) declare every error status (see `document_errors`)."""
    opened = tuple(open_paths)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build(), open_paths=opened,
                                                 own_formats=getattr(app.state, "error_formats", []))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
