"""The capability gateway (`/capabilities/...`) and the catalog's JSON API (`/api/capabilities`).

The gateway route is deliberately bare: read the body, hand it with the `X-API-Key` header to
`gateway.invoke_encoded` in the thread pool (kinds may block on SQL or HTTP), send the bytes it
encoded. Every rule — key, grant, quota, schema, metering — lives in the service function.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from urbanbrain.capability import catalog, gateway
from urbanbrain.capability.catalog import CapabilityPublic, CapabilitySpec
from urbanbrain.capability.lookups import generate_lookup_api
from urbanbrain.capability.openapi import openapi_document
from urbanbrain.core.errors import ValidationError
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.errors import status_for

API_KEY_HEADER = "x-api-key"

router = APIRouter(prefix="/capabilities", tags=["capabilities"])


def gateway_router() -> APIRouter:
    """Mounted at the root, beside `/api`: these URLs are what applications call."""
    gw = APIRouter(prefix="/capabilities", tags=["gateway"])

    @gw.get("/openapi.json", include_in_schema=False)
    def capabilities_openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document(str(request.base_url), installed_version()))

    @gw.post("/{name}/v{version:int}/invoke", summary="Call a capability (see /capabilities/openapi.json)")
    async def invoke(name: str, version: int, request: Request) -> Response:
        raw = await request.body()
        try:
            params: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ValidationError("the request body is not JSON", parameter="(body)",
                                  hint="send the parameters as a JSON object") from None
        _, body = await run_in_threadpool(gateway.invoke_encoded, name, version, params,
                                          request.headers.get(API_KEY_HEADER), status_of=status_for)
        return Response(body, media_type="application/json")

    return gw


class LookupCreate(BaseModel):
    dataset: str
    key_column: str
    name: str | None = None
    owner: str | None = None
    title_zh: str | None = None
    title_en: str | None = None
    columns: list[str] | None = None
    max_rows: int = 100


class Decision(BaseModel):
    approver: str = "owner"
    department: str | None = None


@router.get("")
def list_capabilities(category: str | None = None, department: str | None = None, status: str | None = None,
                      search: str | None = None) -> list[CapabilityPublic]:
    return catalog.list_capabilities(category, department, status, search)


@router.post("", status_code=201)
def register_capability(spec: CapabilitySpec) -> CapabilityPublic:
    """Register a draft; the owning department publishes it with `.../approve`."""
    return catalog.register_capability(spec)


@router.post("/builtins", status_code=201)
def publish_builtins() -> dict[str, list[str]]:
    return catalog.publish_builtins()


@router.post("/lookups", status_code=201)
def create_lookup(body: LookupCreate) -> CapabilityPublic:
    return generate_lookup_api(**body.model_dump())


@router.get("/{name}")
def show_capability(name: str, version: int | None = None) -> CapabilityPublic:
    return catalog.get_capability(name, version)


@router.post("/{name}/approve")
def approve_capability(name: str, body: Decision, version: int | None = None) -> CapabilityPublic:
    return catalog.approve_capability(name, version, body.approver, body.department)


@router.post("/{name}/deprecate")
def deprecate_capability(name: str, body: Decision, version: int | None = None) -> CapabilityPublic:
    return catalog.deprecate_capability(name, version, body.department)
