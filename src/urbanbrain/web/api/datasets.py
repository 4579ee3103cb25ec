"""`/api/datasets`: what is in the lake, its schema, lineage, and a preview of its rows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from urbanbrain.govern import query as reads
from urbanbrain.lake import datasets as svc
from urbanbrain.meta.schemas import DatasetPublic, LineagePublic
from urbanbrain.web.api.bounds import Filter, PathName, Search
from urbanbrain.web.api.results import QueryResponse, json_response
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/datasets", tags=["datasets"])


class DatasetSchema(BaseModel):
    name: str
    columns: list[dict[str, Any]]
    primary_key: list[str]


@router.get("")
def list_datasets(search: Search = None, dept: Filter = None, system: Filter = None,
                  include_quarantine: bool = True,
                  limit: Annotated[int | None, Query(ge=1, le=10_000)] = None) -> list[DatasetPublic]:
    return svc.list_datasets(search=search, dept=dept, system=system, include_quarantine=include_quarantine,
                             limit=limit)


@router.get("/{name}")
def get_dataset(name: PathName) -> DatasetPublic:
    return svc.get_dataset(name)


@router.get("/{name}/schema")
def get_schema(name: PathName) -> DatasetSchema:
    ds = svc.get_dataset(name)
    return DatasetSchema(name=ds.name, columns=ds.columns, primary_key=ds.primary_key)


@router.get("/{name}/preview", response_model=QueryResponse)
def preview(name: PathName, principal: CurrentPrincipal,
            limit: Annotated[int, Query(ge=0, le=1000)] = 20) -> Response:
    return json_response(reads.preview(name, limit, principal=principal))


@router.get("/{name}/lineage")
def get_lineage(name: PathName, principal: CurrentPrincipal) -> LineagePublic:
    result: LineagePublic = reads.lineage(name, principal=principal)
    return result
