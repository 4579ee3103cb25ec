"""`/api/datasets`: what is in the lake, its schema, lineage, and a preview of its rows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from urbanbrain.capability import suggest
from urbanbrain.capability.catalog import CapabilityPublic
from urbanbrain.govern import labels
from urbanbrain.govern import query as reads
from urbanbrain.lake import datasets as svc
from urbanbrain.meta.schemas import DatasetPublic, LineagePublic
from urbanbrain.web.api.bounds import (
    MAX_KEYS,
    MAX_VERSION,
    Filter,
    LongName,
    Note,
    PathName,
    Search,
    Title,
)
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


class FieldLabelBody(BaseModel):
    label_zh: Title | None = None
    label_en: Title | None = None
    description_zh: Note | None = None
    description_en: Note | None = None


class SuggestionPublish(BaseModel):
    purpose: Note | None = None
    version: int = Field(default=1, ge=1, le=MAX_VERSION)


@router.get("/{name}/labels")
def get_labels(name: PathName) -> dict[str, dict[str, Any]]:
    """Display names and descriptions of the dataset (key `""`) and each field, in both languages."""
    return {column: label.as_dict() for column, label in labels.labels_of(name).items()}


@router.put("/{name}/labels")
def put_labels(name: PathName, body: Annotated[dict[LongName | Literal[""], FieldLabelBody],
                                               Body(max_length=MAX_KEYS)],
               principal: CurrentPrincipal) -> dict[str, dict[str, Any]]:
    """A steward names and describes fields (key `""`: the dataset itself); omitted values stay."""
    labels.set_labels(name, {c: v.model_dump(exclude_none=True) for c, v in body.items()}, by=principal)
    return get_labels(name)


@router.get("/{name}/suggestions")
def get_suggestions(name: PathName, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The data APIs proposed for the dataset (nothing is published); for its own department's stewards."""
    return [s.as_dict() for s in suggest.suggest_capabilities(name, by=principal)]


@router.post("/{name}/suggestions/{suggestion}/publish", status_code=201)
def publish_suggestion(name: PathName, suggestion: PathName, body: SuggestionPublish,
                       principal: CurrentPrincipal) -> CapabilityPublic:
    """Publish one proposal; a lookup by a personal field needs `purpose`."""
    return suggest.publish_suggestion(name, suggestion, purpose=body.purpose, version=body.version, by=principal)
