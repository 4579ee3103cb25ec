"""The metadata row of a lake table: one way for every writer (syncs, feed history and rollups, One ID's
registry, the case and indicator tables) to make a table findable by `sql`, the catalog and governance."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import utcnow
from urbanbrain.meta.models import Dataset


def record_dataset(s: Session, name: str, *, system_id: str, object_name: str, fields: Iterable[Any],
                   primary_key: list[str], role: str = "data", rows: int | None = None,
                   snapshot_id: int | None = None, run_id: str | None = None) -> Dataset:
    """Create or update dataset `name`'s row: its schema (`fields`: Arrow or Iceberg fields) and key; with
    `rows`, also what the last write left (count, time, snapshot, run). `rows=None` records only that the
    table exists (a sync killed between its commit and its bookkeeping still leaves a findable table)."""
    ds = s.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        ds = Dataset(name=name, system_id=system_id, object_name=object_name, table_identifier=name, role=role)
        s.add(ds)
    ds.schema_json = [{"name": f.name, "type": str(f.type)} for f in fields]
    ds.primary_key = primary_key
    if rows is not None:
        ds.row_count = rows
        ds.last_synced_at = utcnow()
        ds.snapshot_id = snapshot_id
        if run_id is not None:  # a sync's run; platform writers have none
            ds.last_run_id = run_id
    return ds
