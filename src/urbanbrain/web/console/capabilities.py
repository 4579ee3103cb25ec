"""`/capabilities`: the capability catalog (live search and filters), one capability's page, and "try it".

"Try it" posts the parameters and an API key to this console route, which calls `gateway.invoke_encoded`
exactly as an application would — same key, grant, quota, schema and metering rules — so what the page
shows is what the caller will get. The key is used for that one call: it is never stored, logged, put
in the rendered answer, or echoed back into the form.

The gateway itself (`POST /capabilities/{name}/v{version}/invoke`, `GET /capabilities/openapi.json`) is
mounted before the console, so those two URL shapes never reach these pages.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from urbanbrain.capability import gateway
from urbanbrain.capability.base import BUILTINS, BuiltinSpec
from urbanbrain.capability.catalog import (
    CATALOG_KINDS,
    CATEGORIES,
    PAGE_SIZE,
    STATUSES,
    CapabilityPublic,
    catalog_page,
    get_capability,
)
from urbanbrain.core.errors import UrbanBrainError, ValidationError
from urbanbrain.meta.departments import list_departments
from urbanbrain.web.console.render import FormFields, is_htmx, page
from urbanbrain.web.errors import status_for

router = APIRouter(prefix="/capabilities")
PLACEHOLDERS: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [],
                                "object": {}}


def _example_value(schema: dict[str, Any]) -> Any:
    for field in ("examples", "enum"):
        if schema.get(field):
            return schema[field][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "string")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    return PLACEHOLDERS.get(str(kind), "")


def example_params(cap: CapabilityPublic) -> dict[str, Any]:
    """Parameters to start "try it" with: a built-in's own example, else one value per required field.

    Built-ins ship worked examples; for other kinds the input schema's `examples`/`enum`/`default` give
    a value, and a typed placeholder otherwise, so the form is valid JSON the caller only has to fill in.
    """
    if cap.kind == "builtin":
        try:
            spec = BUILTINS.get(str(cap.implementation.get("builtin", cap.name)))
        except UrbanBrainError:
            spec = None
        if isinstance(spec, BuiltinSpec) and spec.examples and isinstance(spec.examples[0].get("params"), dict):
            return dict(spec.examples[0]["params"])
    properties: dict[str, Any] = cap.input_schema.get("properties") or {}
    required = [p for p in cap.input_schema.get("required") or [] if p in properties]
    return {name: _example_value(properties[name]) for name in required or list(properties)[:3]}


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


@router.get("", response_class=HTMLResponse)
def capabilities(request: Request, q: str | None = None, category: str | None = None, dept: str | None = None,
                 status: str | None = None, kind: str | None = None, page_no: int = Query(1, alias="page", ge=1,
                                                                                          le=100_000)) -> HTMLResponse:
    found = catalog_page(category or None, dept or None, status or None, q or None, kind or None,
                         offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    filters = {"q": q or "", "category": category or "", "dept": dept or "", "status": status or "",
               "kind": kind or ""}
    pages = max(1, -(-found.total // PAGE_SIZE))
    context = {"capabilities": found.items, **filters, "filtered": bool(q or category or dept or status or kind),
               "total": found.total, "kinds": found.kinds, "catalog_kinds": CATALOG_KINDS,
               "page_no": min(page_no, pages), "pages": pages,
               "query": lambda **change: urlencode({k: v for k, v in {**filters, **change}.items() if v})}
    if is_htmx(request):  # live filtering swaps only the results
        return page(request, "_capability_results.html", context)
    return page(request, "capabilities.html", {**context, "departments": list_departments(),
                                               "categories": CATEGORIES, "statuses": STATUSES})


def _detail(request: Request, cap: CapabilityPublic) -> dict[str, Any]:
    example = example_params(cap)
    base = str(request.base_url).rstrip("/")
    return {
        "cap": cap, "example": pretty(example), "input_schema": pretty(cap.input_schema),
        "output_schema": pretty(cap.output_schema), "invoke_url": base + cap.path,
        "curl": (f"curl -X POST '{base}{cap.path}' \\\n  -H \"X-API-Key: $URBANBRAIN_KEY\" \\\n"
                 f"  -H 'Content-Type: application/json' \\\n  -d '{json.dumps(example, ensure_ascii=False)}'"),
    }


@router.get("/{name}", response_class=HTMLResponse)
def capability_detail(request: Request, name: str, version: int | None = None) -> HTMLResponse:
    return page(request, "capability.html", _detail(request, get_capability(name, version)))


@router.post("/{name}/try", response_class=HTMLResponse)
async def try_capability(request: Request, name: str, form: FormFields) -> HTMLResponse:
    """One real gateway call with the typed key; the answer (or the error and its status) as a fragment."""
    version = int(v) if (v := form.get("version", "")).isdigit() else 1
    api_key = form.get("api_key", "").strip() or None
    try:
        raw = form.get("params", "").strip()
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            raise ValidationError("the parameters are not valid JSON", parameter="(body)") from None
        _, encoded = await run_in_threadpool(gateway.invoke_encoded, name, version, params, api_key,
                                             status_of=status_for)
        result = {"status": 200, "body": pretty(json.loads(encoded))}
    except UrbanBrainError as exc:
        result = {"status": status_for(exc), "body": pretty(exc.to_dict())}
    if is_htmx(request):
        return page(request, "_capability_try.html", {"result": result})
    cap = get_capability(name, version)  # without JavaScript: the whole page, with the answer under the form
    return page(request, "capability.html", {**_detail(request, cap), "result": result,
                                             "params": form.get("params", "")})
