"""The gateway's OpenAPI document (`/capabilities/openapi.json`) and the catalog's JSON API (`/api/capabilities`).

Calls (`POST /capabilities/{name}/v{version}/invoke`) are answered by `urbanbrain.web.gateway_path`,
plain ASGI outside the app's middleware and router (why: see that module).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute, Route

from urbanbrain.capability import catalog
from urbanbrain.capability.catalog import CapabilityPublic, CapabilitySpec
from urbanbrain.capability.lookups import generate_lookup_api
from urbanbrain.capability.openapi import openapi_document
from urbanbrain.web.api.bounds import MAX_LIST, Filter, LongName, Name, PathName, Search, Title, VersionQuery
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.error_docs import document_errors
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/capabilities", tags=["capabilities"])


async def capabilities_openapi(request: Request) -> JSONResponse:
    """`GET /capabilities/openapi.json`: the whole published catalog as one OpenAPI 3.1 document."""
    return JSONResponse(document_errors(openapi_document(str(request.base_url), installed_version()),
                                        conflicts=False))


def gateway_routes() -> list[BaseRoute]:
    """Mounted at the root, ahead of every other route: what applications read to call the gateway
    (the calls themselves are answered by `urbanbrain.web.gateway_path`, outside the router)."""
    return [Route("/capabilities/openapi.json", capabilities_openapi, methods=["GET"])]


class LookupCreate(BaseModel):
    dataset: LongName
    key_column: LongName
    name: Name | None = None
    owner: Name | None = None
    title_zh: Title | None = None
    title_en: Title | None = None
    columns: list[LongName] | None = Field(default=None, max_length=MAX_LIST)
    max_rows: int = Field(default=100, ge=1, le=10_000)


class Decision(BaseModel):
    approver: Title = "owner"
    department: Name | None = None


@router.get("")
def list_capabilities(response: Response, category: Filter = None, department: Filter = None,
                      status: Filter = None, search: Search = None,
                      kind: Annotated[str | None, Query(max_length=40, description=(
                          "builtin, data_api, indicator or http_proxy"))] = None,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                      limit: Annotated[int | None, Query(ge=1, le=500, description="page size; all if omitted")]
                      = None) -> list[CapabilityPublic]:
    """The catalog, filtered; `X-Total-Count` says how many match, `X-Kind-Counts` how many of each kind."""
    found = catalog.catalog_page(category, department, status, search, kind, offset=offset, limit=limit)
    response.headers["X-Total-Count"] = str(found.total)
    response.headers["X-Kind-Counts"] = ",".join(f"{k}={n}" for k, n in found.kinds.items())
    return found.items


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
def show_capability(name: PathName, version: VersionQuery = None) -> CapabilityPublic:
    return catalog.get_capability(name, version)


@router.post("/{name}/approve")
def approve_capability(name: PathName, body: Decision, principal: CurrentPrincipal,
                       version: VersionQuery = None) -> CapabilityPublic:
    return catalog.approve_capability(name, version, body.approver, body.department, by=principal)


@router.post("/{name}/deprecate")
def deprecate_capability(name: PathName, body: Decision, principal: CurrentPrincipal,
                         version: VersionQuery = None) -> CapabilityPublic:
    return catalog.deprecate_capability(name, version, body.department, by=principal)
