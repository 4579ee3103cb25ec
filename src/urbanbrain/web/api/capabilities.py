"""The gateway's OpenAPI document (`/capabilities/openapi.json`) and the catalog's JSON API (`/api/capabilities`).

Calls (`POST /capabilities/{name}/v{version}/invoke`) are answered by `urbanbrain.web.gateway_path`,
plain ASGI outside the app's middleware and router (why: see that module).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from urbanbrain.capability import catalog
from urbanbrain.capability.catalog import CapabilityPublic, CapabilitySpec
from urbanbrain.capability.lookups import generate_lookup_api
from urbanbrain.capability.openapi import openapi_document
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/capabilities", tags=["capabilities"])


async def capabilities_openapi(request: Request) -> JSONResponse:
    """`GET /capabilities/openapi.json`: the whole published catalog as one OpenAPI 3.1 document."""
    return JSONResponse(openapi_document(str(request.base_url), installed_version()))


def gateway_routes() -> list[BaseRoute]:
    """Mounted at the root, ahead of every other route: what applications read to call the gateway
    (the calls themselves are answered by `urbanbrain.web.gateway_path`, outside the router)."""
    return [Route("/capabilities/openapi.json", capabilities_openapi, methods=["GET"])]


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
def register_capability(spec: CapabilitySpec, principal: CurrentPrincipal) -> CapabilityPublic:
    """Register a draft; the owning department publishes it with `.../approve`."""
    return catalog.register_capability(spec, by=principal)


@router.post("/builtins", status_code=201)
def publish_builtins(principal: CurrentPrincipal) -> dict[str, list[str]]:
    return catalog.publish_builtins(by=principal)


@router.post("/lookups", status_code=201)
def create_lookup(body: LookupCreate, principal: CurrentPrincipal) -> CapabilityPublic:
    return generate_lookup_api(**body.model_dump(), by=principal)


@router.get("/{name}")
def show_capability(name: str, version: int | None = None) -> CapabilityPublic:
    return catalog.get_capability(name, version)


@router.post("/{name}/approve")
def approve_capability(name: str, body: Decision, principal: CurrentPrincipal,
                       version: int | None = None) -> CapabilityPublic:
    return catalog.approve_capability(name, version, body.approver, body.department, by=principal)


@router.post("/{name}/deprecate")
def deprecate_capability(name: str, body: Decision, principal: CurrentPrincipal,
                         version: int | None = None) -> CapabilityPublic:
    return catalog.deprecate_capability(name, version, body.department, by=principal)
