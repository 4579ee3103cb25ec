"""Registering Parquet exports into the lake in place: no copy, the table points at the files.

A files system added with `--register-in-place` has each of its Parquet objects registered with
pyiceberg's `add_files` instead of read and rewritten: a billion rows of existing files become a
table in seconds, whatever their size. The files stay where they are and remain their owner's:
`lake maintain` never compacts nor deletes a file outside the table's folder, and the lake reads
them by column name (they carry no Iceberg field ids). The lineage columns are NULL for their rows.

When the file's schema does not allow it (nested or unsigned types, nanosecond times, Iceberg
field ids already in the file, a table that already holds copied rows), the object is copied as
usual and the reason is logged and kept as the table property `urbanbrain.in-place-refused`.
A re-sync registers nothing when the file is unchanged, and swaps the reference in one commit when
the owner replaced it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from urbanbrain.lake.catalog import Identifier, get_catalog
from urbanbrain.lake.types import LINEAGE_NAMES, lake_schema

log = logging.getLogger("urbanbrain.sync")
IN_PLACE_PROPERTY = "urbanbrain.in-place"
REFUSED_PROPERTY = "urbanbrain.in-place-refused"


def refusal(schema: pa.Schema) -> str | None:
    """Why a Parquet file of `schema` cannot be registered as it is, or None."""
    lake = lake_schema(schema)
    for f in schema:
        if f.metadata and b"PARQUET:field_id" in f.metadata:
            return f"column {f.name!r} carries an Iceberg field id already"
        if f.name in LINEAGE_NAMES:
            continue
        want = lake.field(f.name).type
        have = pa.string() if pa.types.is_large_string(f.type) else f.type
        if have != want:
            return f"column {f.name!r} is {f.type}, which the lake stores as {want}"
    return None


def register(ident: Identifier, path: Path) -> tuple[int | None, str | None]:
    """Register `path` as table `ident`'s data: (rows now in the table, None) or (None, reason to copy)."""
    from pyiceberg.expressions import AlwaysTrue

    from urbanbrain.lake.writer import TableWriter

    try:
        file_schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        return None, f"cannot read the Parquet schema: {exc}"
    reason = refusal(file_schema)
    catalog = get_catalog()
    st = os.stat(path)
    stamp = json.dumps({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    if reason is None and catalog.table_exists(ident):
        table = catalog.load_table(ident)
        if table.properties.get(IN_PLACE_PROPERTY) == stamp:
            return _rows(table), None  # the same file is registered already
        if table.current_snapshot() is not None and IN_PLACE_PROPERTY not in table.properties:
            reason = "the table already holds copied rows"
    if reason is not None:
        _remember(ident, reason)
        return None, reason
    writer = TableWriter(ident, lake_schema(file_schema))
    writer.open()
    table = writer.table
    try:
        with table.transaction() as tx:
            if table.current_snapshot() is not None:
                tx.delete(delete_filter=AlwaysTrue())  # drops the old file's reference, never the file
            tx.add_files([str(path)], snapshot_properties={"urbanbrain.in-place": "1"})
            tx.set_properties({IN_PLACE_PROPERTY: stamp})
    except Exception as exc:  # pyiceberg names what it could not take (types, ids, statistics)
        reason = f"pyiceberg cannot add it: {exc}"
        _remember(ident, reason)
        return None, reason
    return _rows(catalog.load_table(ident)), None


def _rows(table: object) -> int:
    snap = table.current_snapshot()  # type: ignore[attr-defined]
    return int(snap.summary.get("total-records", 0)) if snap and snap.summary else 0


def _remember(ident: Identifier, reason: str) -> None:
    log.warning("%s is copied, not registered in place: %s", ".".join(ident), reason)
    catalog = get_catalog()
    if catalog.table_exists(ident):
        table = catalog.load_table(ident)
        if table.properties.get(REFUSED_PROPERTY) != reason:
            with table.transaction() as tx:
                tx.set_properties({REFUSED_PROPERTY: reason})
