"""Service functions for datasets: list, search, schema, lineage, drop.

Dataset rows live in the metadata store. Reading rows (previews) and deciding what of the lineage a
caller may see belong to governance (`urbanbrain.govern.query`): the lake does not know who is asking.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.core.errors import NotFoundError
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, Department, System
from urbanbrain.meta.schemas import DatasetPublic, LineagePublic


def dataset_public(ds: Dataset) -> DatasetPublic:
    return DatasetPublic(
        id=ds.id, name=ds.name, role=ds.role, system=ds.system.name, department=ds.system.department.code,
        object_name=ds.object_name, table_identifier=ds.table_identifier, row_count=ds.row_count,
        last_synced_at=ds.last_synced_at, last_run_id=ds.last_run_id, columns=list(ds.schema_json),
        primary_key=list(ds.primary_key),
    )


def _get(session: Session, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name.lower()))
    if ds is None:
        from urbanbrain.lake.names import dataset_name_hint

        raise NotFoundError(f"no dataset named {name!r}", hint=dataset_name_hint(name.split(".")))
    return ds


def list_datasets(search: str | None = None, dept: str | None = None, system: str | None = None,
                  include_quarantine: bool = True, limit: int | None = None) -> list[DatasetPublic]:
    """Search matches the dataset name, the source object name or any column name."""
    with session_scope() as s:
        query = select(Dataset).join(System).join(Department).order_by(Dataset.name)
        if dept:
            query = query.where(Department.code == dept.lower())
        if system:
            query = query.where(System.name == system)
        if not include_quarantine:
            query = query.where(Dataset.role == "data")
        rows = list(s.scalars(query))
        if search:
            needle = search.lower()
            rows = [d for d in rows if needle in d.name or needle in d.object_name.lower()
                    or any(needle in str(c.get("name", "")).lower() for c in d.schema_json)
                    or needle in d.system.department.name.lower()]
        if limit:
            rows = rows[:limit]
        return [dataset_public(d) for d in rows]


def get_dataset(name: str) -> DatasetPublic:
    with session_scope() as s:
        return dataset_public(_get(s, name))


def lineage(name: str) -> LineagePublic:
    """Where a dataset's rows came from: department, system, source object, last run and snapshot."""
    with session_scope() as s:
        ds = _get(s, name)
        return LineagePublic(
            dataset=ds.name, department=ds.system.department.code, department_name=ds.system.department.name,
            system=ds.system.name, system_kind=ds.system.kind, source_object=ds.object_name,
            source=ds.system.display_url, last_run_id=ds.last_run_id, last_synced_at=ds.last_synced_at,
            snapshot_id=ds.snapshot_id,
        )


def dataset_owner(name: str) -> str:
    """The code of the department that owns dataset `name` (whose rules decide about it)."""
    with session_scope() as s:
        return _get(s, name).system.department.code


def drop_dataset(name: str) -> str:
    """Drop a lake table and its record; returns the table identifier. Callers go through the
    authorised `sync.service.drop_dataset` (the lake does not know who is asking)."""
    with session_scope() as s:
        ds = _get(s, name)
        ident = tuple(ds.table_identifier.split("."))
        catalog = get_catalog()
        if catalog.table_exists(ident):
            catalog.purge_table(ident)
        s.delete(ds)
    return ".".join(ident)
