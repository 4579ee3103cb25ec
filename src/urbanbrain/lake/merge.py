"""A primary-key merge that rewrites only the data files holding changed keys.

pyiceberg's `delete` plans the files a key filter may touch from their column bounds, reads each of
them whole and commits a delete snapshot, an overwrite snapshot and then the append. Here the
candidate files (same planning: partitions and column bounds) are first read for their key columns
only; a file none of whose keys changed is left alone, and each file that does hold a changed key is
rewritten without those rows. The rewrites, the removals and the new rows are one overwrite
snapshot, so a reader sees the table before the merge or after it, and the cost of a merge grows with
the files its keys live in, not with the table (sorted, partitioned tables keep keys together).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction

from urbanbrain.lake.datafiles import DataFileWriter

_SEP = "\x1f"


@dataclass
class MergeStats:
    candidates: int = 0   # files the key filter's bounds could not rule out
    rewritten: int = 0    # files that held a changed key and were rewritten
    removed_rows: int = 0


def _key_array(table: pa.Table, primary_key: list[str]) -> pa.Array:
    """One comparable value per row: the key itself, or the key columns joined as text."""
    if len(primary_key) == 1:
        column = table.column(primary_key[0])
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    parts = [pc.cast(table.column(k), pa.string()) for k in primary_key]
    return pc.binary_join_element_wise(*parts, _SEP)


def merge_files(table: Table, tx: Transaction, key_filter: BooleanExpression, primary_key: list[str],
                keys: pa.Table, new_files: list[DataFile], summary: dict[str, str],
                sort_by: str | None) -> MergeStats:
    """Stage in `tx` one overwrite replacing the rows of `keys` by `new_files` (already written)."""
    from pyiceberg.io.pyarrow import ArrowScan

    stats = MergeStats()
    wanted = pc.unique(pc.drop_null(_key_array(_plain_types(keys), primary_key)))
    schema = table.schema()
    key_schema = schema.select(*primary_key)
    tasks = list(table.scan(row_filter=key_filter).plan_files())
    stats.candidates = len(tasks)
    writer = DataFileWriter(table, sort_by=sort_by)
    removed: list[DataFile] = []
    for task in tasks:
        key_rows = _plain_types(ArrowScan(table.metadata, table.io, key_schema, AlwaysTrue()).to_table(tasks=[task]))
        hit = pc.is_in(_key_array(key_rows, primary_key), value_set=wanted)
        if not pc.any(hit).as_py():
            continue  # none of this file's keys changed: it stays in the new snapshot as it is
        rows = _plain_types(ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(tasks=[task]))
        keep = pc.invert(pc.fill_null(pc.is_in(_key_array(rows, primary_key), value_set=wanted), False))
        remaining = rows.filter(keep)
        stats.rewritten += 1
        stats.removed_rows += rows.num_rows - remaining.num_rows
        removed.append(task.file)
        if remaining.num_rows:
            writer.write(remaining)
    rewritten = writer.close()
    if not removed and not new_files:
        return stats
    with tx.update_snapshot(snapshot_properties=summary).overwrite() as overwrite:
        for old in removed:
            overwrite.delete_data_file(old)
        for data_file in rewritten + new_files:
            overwrite.append_data_file(data_file)
    return stats


def _plain_types(table: pa.Table) -> pa.Table:
    """pyiceberg reads text as large_string; the writer's conversion takes either, but keep it plain."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else
                       pa.binary() if pa.types.is_large_binary(f.type) else f.type, f.nullable)
              for f in table.schema]
    return table.cast(pa.schema(fields))
