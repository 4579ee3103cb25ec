"""Writing one lake table: data files stream out as batches arrive; one atomic commit at the end.

The commit carries the table's new cursor as a table property, so "rows landed" and "cursor moved"
are one step: a sync killed at any point leaves either the old snapshot with the old cursor or the
new snapshot with the new cursor, never rows without their cursor (nothing lost, nothing doubled).
Files written before a kill are unreferenced and invisible to readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, In, Or
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from urbanbrain.core.errors import CommitConflictError, LakeError
from urbanbrain.lake.catalog import Identifier, ensure_namespace, get_catalog
from urbanbrain.lake.datafiles import DataFileWriter
from urbanbrain.lake.merge import MergeStats, merge_files
from urbanbrain.lake.types import absorbed, evolved, reconcile

CURSOR_PROPERTY = "urbanbrain.cursor"


@dataclass
class CommitResult:
    snapshot_id: int | None
    rows_written: int
    bytes_written: int
    total_rows: int


@dataclass
class TableWriter:
    """Write mode: `replace` (whole table), `append`, `merge` (by primary key), or `replace_where`
    (rows matching `replace_filter`, used by quarantine re-runs)."""

    identifier: Identifier
    schema: pa.Schema
    mode: str = "append"
    primary_key: list[str] = field(default_factory=list)
    replace_filter: BooleanExpression | None = None
    evolve: bool = False  # rewrite columns whose values outgrew their type (see `types.can_evolve`)
    partition_by: list[str] = field(default_factory=list)  # spec of a table this writer creates
    sort_by: str | None = None  # the column rows are written sorted by (the cursor)
    _table: Table | None = None
    _files: list[DataFile] = field(default_factory=list)
    _keys: list[pa.Table] = field(default_factory=list)
    _rows: int = 0
    _data: DataFileWriter | None = None
    merge_stats: MergeStats | None = None

    def open(self) -> pa.Schema:
        """Create or evolve the table; returns the Arrow schema batches must be cast to."""
        catalog = get_catalog()
        ensure_namespace(self.identifier[:-1])
        name = ".".join(self.identifier)
        if not catalog.table_exists(self.identifier):
            from urbanbrain.lake import partitioning

            fields = partitioning.parse(self.partition_by, self.schema)  # a bad spec fails before creation
            try:
                self._table = catalog.create_table(self.identifier, schema=self.schema)
                if fields or self.sort_by:
                    self._table = partitioning.apply(self._table, fields, self.sort_by)
            except Exception as exc:  # a concurrent creator won the race
                if not catalog.table_exists(self.identifier):
                    raise LakeError(f"cannot create lake table {name}: {exc}") from exc
                self._table = catalog.load_table(self.identifier)
        else:
            self._table = catalog.load_table(self.identifier)
            if self.evolve and (rewrite := evolved(self.target_schema, self.schema)):
                self._rewrite_columns(rewrite)
            current = self.target_schema
            if self.evolve:  # narrower values than the table holds land in its wider columns as they are
                self.schema = absorbed(current, self.schema)
            add, widen = reconcile(current, self.schema, name)
            if add or widen:
                merged = [next((w for w in widen if w.name == f.name), f) for f in current] + add
                with self._table.update_schema() as update:
                    update.union_by_name(pa.schema(merged))
                self._table = catalog.load_table(self.identifier)
        return self.target_schema

    def _rewrite_columns(self, fields: list[pa.Field]) -> None:
        """Widen columns Iceberg cannot promote (int -> text, int -> double, date -> timestamp) in one
        commit: drop and re-add each column with its new type in place, and rewrite every row with the
        old values cast. Readers see the old table or the widened one with all its rows, never a mix;
        the cursor property is untouched. The table is read into memory, so this is for the tables
        text sources produce, and it happens once per widening."""
        from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids

        table = self.table
        rows = table.scan().to_arrow()
        names = [f.name for f in table.schema().as_arrow()]
        new_types = {f.name: f.type for f in fields}
        arrays = []
        for name in names:
            column = rows.column(name)
            if name in new_types:
                column = _evolve_values(column, new_types[name])
            arrays.append(column)
        target = pa.schema([pa.field(n, new_types.get(n, _plain(rows.schema.field(n).type)), True) for n in names])
        converted = pa.Table.from_arrays(arrays, schema=target)
        iceberg_types = {f.name: f.field_type for f in _pyarrow_to_schema_without_ids(target).fields}
        try:
            with table.transaction() as tx:
                with tx.update_schema() as update:
                    for name in new_types:
                        update.delete_column(name)
                with tx.update_schema() as update:
                    for name in new_types:
                        update.add_column(name, iceberg_types[name])
                        previous = names[names.index(name) - 1] if names.index(name) else None
                        if previous is None:
                            update.move_first(name)
                        else:
                            update.move_after(name, previous)
                if converted.num_rows:
                    tx.overwrite(converted)
        except CommitFailedException as exc:
            raise CommitConflictError(f"another writer changed {'.'.join(self.identifier)} first: {exc}",
                                      hint="run the sync again") from None
        self._table = get_catalog().load_table(self.identifier)

    @property
    def table(self) -> Table:
        if self._table is None:
            raise LakeError("TableWriter.open() must be called first")
        return self._table

    @property
    def target_schema(self) -> pa.Schema:
        arrow = self.table.schema().as_arrow()
        return pa.schema([pa.field(f.name, _plain(f.type), f.nullable) for f in arrow])

    @property
    def cursor(self) -> str | None:
        value = self.table.properties.get(CURSOR_PROPERTY)
        return str(value) if value else None

    def write(self, data: pa.Table) -> int:
        """Write one batch into the current data file now (bounded memory); returns bytes added."""
        if data.num_rows == 0:
            return 0
        if self._data is None:
            self._data = DataFileWriter(self.table, sort_by=self.sort_column)
        before = self._data.bytes_written
        self._data.write(data)
        self._rows += data.num_rows
        if self.mode == "merge":
            self._keys.append(data.select(self.primary_key))
        return self._data.bytes_written - before

    def add_files(self, files: list[DataFile], rows: int, keys: pa.Table | None = None) -> None:
        """Data files written elsewhere (the parts of a split sync, `sync/split.py`) to commit with this
        writer's own, in its one commit; `rows` they hold and, in merge mode, the primary `keys` they
        write (so the commit deletes those keys' old rows as it does for rows written here)."""
        self._files.extend(files)
        self._rows += rows
        if keys is not None and keys.num_rows:
            self._keys.append(keys)

    @property
    def sort_column(self) -> str | None:
        """The column data files are sorted by: the table's sort property, else the writer's `sort_by`
        (parts writing files for this table must sort the same way)."""
        from urbanbrain.lake.partitioning import SORT_PROPERTY

        return self.table.properties.get(SORT_PROPERTY) or self.sort_by

    def _delete_filter(self) -> BooleanExpression | None:
        if self.mode == "replace":
            return AlwaysTrue()
        if self.mode == "replace_where":
            return self.replace_filter
        if self.mode == "merge" and self._keys:
            keys = pa.concat_tables(self._keys)
            if len(self.primary_key) == 1:
                values = [v for v in keys.column(0).to_pylist() if v is not None]
                return in_values(self.primary_key[0], set(values)) if values else None
            rows = keys.to_pylist()
            exprs: list[BooleanExpression] = [
                reduce(And, [equals(k, r[k]) for k in self.primary_key]) for r in rows
                if all(r[k] is not None for k in self.primary_key)
            ]
            return reduce(Or, exprs) if exprs else None
        return None

    def commit(self, properties: dict[str, str] | None = None,
               summary: dict[str, str] | None = None) -> CommitResult:
        """One atomic Iceberg commit: deletions, new files and properties (the cursor) together."""
        table = self.table
        if self._data is not None:
            self._files.extend(self._data.close())
            self._data = None
        try:
            with table.transaction() as tx:
                if self.mode == "merge" and self._keys and table.current_snapshot() is not None:
                    # one overwrite: files holding changed keys are rewritten, every other file stays
                    keys = pa.concat_tables(self._keys)
                    first = {v for v in keys.column(0).to_pylist() if v is not None}
                    self.merge_stats = merge_files(table, tx, in_values(self.primary_key[0], first), self.primary_key,
                                                   keys, self._files, summary or {}, self.sort_column)
                    delete = None
                else:
                    delete = self._delete_filter()
                if delete is not None and table.current_snapshot() is not None:
                    tx.delete(delete_filter=delete)
                if self._files and self.merge_stats is None:
                    with tx.update_snapshot(snapshot_properties=summary or {}).fast_append() as append:
                        for data_file in self._files:
                            append.append_data_file(data_file)
                if properties:
                    tx.set_properties(properties)
        except CommitFailedException as exc:
            raise CommitConflictError(
                f"another writer committed to {'.'.join(self.identifier)} first: {exc}",
                hint="run the sync again; it resumes from the last committed cursor",
            ) from None
        refreshed = get_catalog().load_table(self.identifier)
        snap = refreshed.current_snapshot()
        total = int(snap.summary.get("total-records", 0)) if snap and snap.summary else 0
        self._table = refreshed
        return CommitResult(
            snapshot_id=snap.snapshot_id if snap else None,
            rows_written=self._rows,
            bytes_written=sum(f.file_size_in_bytes for f in self._files),
            total_rows=total,
        )


def _evolve_values(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    """Old values in a wider type; text keeps the ISO form for times and the plain form for numbers."""
    import pyarrow.compute as pc

    if pa.types.is_string(target) and (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
        return pa.chunked_array([pa.array([None if v is None else v.isoformat(sep=" ") if hasattr(v, "hour")
                                           else v.isoformat() for v in column.to_pylist()], pa.string())])
    return pc.cast(column, target)


def equals(column: str, value: Any) -> BooleanExpression:
    """`column = value` as an Iceberg filter (pyiceberg's pydantic signature confuses mypy)."""
    return EqualTo(column, value)  # type: ignore[call-arg,arg-type]


def in_values(column: str, values: set[Any]) -> BooleanExpression:
    return In(column, values)  # type: ignore[call-arg,arg-type]


def _plain(t: pa.DataType) -> pa.DataType:
    """pyiceberg hands back large_string/large_binary; our batches use the plain types."""
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    return t


def table_properties(identifier: Identifier) -> dict[str, Any]:
    return dict(get_catalog().load_table(identifier).properties)
