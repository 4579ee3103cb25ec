"""Writing Iceberg data files: one open Parquet writer per table write, rolled over at a target size.

pyiceberg's own writer makes one file per call and tries dictionary encoding on every column. For a
sync that streams 100k-row batches that means many small files and most of the CPU spent on
dictionaries that never pay (ids, amounts, timestamps). Measured on 5 M mixed rows here: per-column
dictionary choice cut Parquet CPU by ~35 % and files by ~30 %; larger files cut it further and help
queries skip files. Statistics (column bounds) are kept: queries prune files with them.

Parquet encoding is the cost of a large copy (55 % of a 3 M-row sync, measured with cProfile), and
one pyarrow writer encodes on one core while DuckDB's `COPY` uses all of them. A large write
therefore spreads its batches over `write_lanes()` lanes: each lane is one thread with its own open
file per partition (pyarrow releases the GIL while encoding), so the files of one partition are
encoded in parallel and the sync's reading and converting go on meanwhile. Each partition has a lane
of its own (round-robin as partitions appear: time-ordered rows fill consecutive days on different
lanes, one file each); only a partition past `LANE_MIN_ROWS` rows spreads its further batches over
every lane (a file per lane), so small partitions keep one file and queries open no more files.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import (
    FileFormatFactory,
    _get_parquet_writer_kwargs,
    _to_requested_schema,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    sanitize_column_names,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.table import Table
from pyiceberg.table.locations import load_location_provider
from pyiceberg.typedef import Record

TARGET_FILE_BYTES = 256 * 1024 * 1024
DICTIONARY_MAX_RATIO = 0.3  # distinct / rows below which a string column is dictionary-encoded


def dictionary_columns(batch: pa.RecordBatch | pa.Table) -> list[str]:
    """Columns worth a dictionary: booleans, dates, and text, numbers and times with few distinct values
    (districts, categories, station ids, readings rounded to a tenth). Measured on the bench's sensor
    rows: dictionaries on its low-cardinality measures cut encoding time by 35-40 % and the file by 40 %
    (a dictionary that outgrows its page limit falls back to plain encoding by itself)."""
    chosen: list[str] = []
    rows = max(batch.num_rows, 1)
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        t = column.type
        always = pa.types.is_boolean(t) or pa.types.is_date(t)
        counted = (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                   or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_timestamp(t))
        if always or (counted and pc.count_distinct(column).as_py() / rows <= DICTIONARY_MAX_RATIO):
            chosen.append(name)
    return chosen


LANE_MIN_ROWS = 1_000_000  # rows a write keeps in one lane (one file per partition) before spreading
LANE_BACKLOG = 4  # batches queued per lane before the producer waits (bounded memory)


def write_lanes() -> int:
    """Parallel Parquet writers of one large write: `URBANBRAIN_LAKE_WRITE_LANES`, else the cores (<= 4)."""
    raw = os.environ.get("URBANBRAIN_LAKE_WRITE_LANES", "")
    return max(1, int(raw)) if raw.strip().isdigit() else max(1, min(4, os.cpu_count() or 1))


@dataclass
class _OpenFile:
    path: str
    stream: Any
    writer: pq.ParquetWriter
    partition: Record
    lane: int = 0
    written: int = 0  # bytes once its last queued batch is encoded (the stream's position then)


OPEN_PARTITIONS = 32  # files open at once in a partitioned write; the least recently written closes first


@dataclass
class DataFileWriter:
    """Streams Arrow tables (already in the table's schema) into rolling Parquet data files.

    A partitioned table gets one open file per partition the rows fall in (at most `OPEN_PARTITIONS`
    at once); `sort_by` orders each batch by that column first, so a file's column bounds stay narrow.
    `target_bytes` defaults to the table's `write.target-file-size-bytes`, else `TARGET_FILE_BYTES`.
    """

    table: Table
    target_bytes: int = 0
    sort_by: str | None = None
    lanes: int = 0  # parallel writers; 0: `write_lanes()`. Compaction uses 1: one file per partition
    files: list[DataFile] = field(default_factory=list)
    _open: dict[tuple[Any, ...], _OpenFile] = field(default_factory=dict)
    _count: int = 0
    _dictionary: list[str] | None = None
    _turn: int = 0
    _part_lane: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)  # [lane, rows, batches]
    _lanes: list[ThreadPoolExecutor] = field(default_factory=list)
    _queued: list[deque[Future[Any]]] = field(default_factory=list)
    _closing: list[tuple[_OpenFile, Future[DataFile]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from urbanbrain.lake.partitioning import target_file_bytes

        metadata = self.table.metadata
        self._schema = metadata.schema()
        sanitized = sanitize_column_names(self._schema)
        self._file_schema = sanitized if sanitized != self._schema else self._schema
        self._properties = dict(metadata.properties)
        self._kwargs = _get_parquet_writer_kwargs(self._properties)
        self._locations = load_location_provider(table_location=metadata.location, table_properties=self._properties)
        self._uuid = uuid.uuid4()
        self._format_model = FileFormatFactory.get(FileFormat.PARQUET)
        self._spec = metadata.spec()
        if not self.target_bytes:
            from urbanbrain.core.settings import get_settings

            self.target_bytes = target_file_bytes(self.table, get_settings().lake_target_file_bytes)

    def write(self, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        if self.sort_by and self.sort_by in data.column_names:
            data = data.sort_by(self.sort_by)
        if self._dictionary is None:
            # decided once per write, on the source names, so every file of this write agrees
            self._dictionary = dictionary_columns(data)
        if self._spec.is_unpartitioned():
            self._write_part((), Record(), data, self._next_lane((), data.num_rows))
            return
        for values, part in self._partitions(data):
            record = self._partition_key(values).partition
            self._write_part(values, record, part, self._next_lane(values, part.num_rows))

    def _next_lane(self, key: tuple[Any, ...], rows: int) -> int:
        """The partition's own lane; past `LANE_MIN_ROWS` rows of it, every lane in turn."""
        lanes = self.lanes or write_lanes()
        state = self._part_lane.get(key)
        if state is None:
            state = self._part_lane[key] = [self._turn % lanes, 0, 0]
            self._turn += 1
        lane, seen, batches = state
        state[1], state[2] = seen + rows, batches + 1
        return lane if seen < LANE_MIN_ROWS else (lane + batches) % lanes

    def _lane(self, lane: int) -> ThreadPoolExecutor:
        while len(self._lanes) <= lane:
            self._lanes.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ub-parquet"))
            self._queued.append(deque())
        return self._lanes[lane]

    def _submit(self, lane: int, fn: Any, *args: Any) -> Future[Any]:
        """Run `fn` in the lane's thread after everything queued there; waits while the lane is behind."""
        executor, queued = self._lane(lane), self._queued[lane]
        while queued and queued[0].done():
            queued.popleft().result()  # an encoding error surfaces here, at the next write
        while len(queued) >= LANE_BACKLOG:
            queued.popleft().result()
        future = executor.submit(fn, *args)
        queued.append(future)
        return future

    def _partitions(self, data: pa.Table) -> list[tuple[tuple[Any, ...], pa.Table]]:
        """`data` split by partition value. pyiceberg's `_determine_partitions` filters the whole batch
        once per partition (a third of a sync's time, measured); rows usually arrive in time order, so
        a batch mostly falls in one partition: that case costs one `unique`, the rest one group-by.
        When the batch is sorted by the partition's time column, its first and last rows decide it."""
        if (single := self._single_partition(data)) is not None:
            return [(single, data)]
        keys = []
        for f in self._spec.fields:
            source = self._schema.find_field(f.source_id)
            keys.append(f.transform.pyarrow_transform(source.field_type)(data.column(source.name)))
        if len(keys) == 1:
            key = keys[0].combine_chunks() if isinstance(keys[0], pa.ChunkedArray) else keys[0]
            runs = pc.run_end_encode(key)
            if len(runs.values) <= OPEN_PARTITIONS:  # time-ordered rows: a few runs, zero-copy slices
                out, start = [], 0
                for end, value in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                    out.append(((value,), data.slice(start, end - start)))
                    start = end
                return out
        names = [f"k{i}" for i in range(len(keys))]
        index = pa.table({**dict(zip(names, keys, strict=True)), "_row": pa.array(range(data.num_rows), pa.int64())})
        groups = index.group_by(names, use_threads=False).aggregate([("_row", "list")])
        out = []
        for row in range(groups.num_rows):
            values = tuple(groups.column(n)[row].as_py() for n in names)
            out.append((values, data.take(groups.column("_row_list")[row].values)))
        return out

    def _single_partition(self, data: pa.Table) -> tuple[Any, ...] | None:
        """The one partition of a batch under a single time transform (year, month, day, hour: monotonic)
        when its earliest and latest values fall in the same one; else None. A min/max costs far less
        than transforming every row (measured: a third of the partitioning time of a 3 M-row sync)."""
        from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform

        if len(self._spec.fields) != 1:
            return None
        f = self._spec.fields[0]
        if not isinstance(f.transform, DayTransform | HourTransform | MonthTransform | YearTransform):
            return None
        source = self._schema.find_field(f.source_id)
        column = data.column(source.name)
        if column.null_count:
            return None
        bounds = pc.min_max(column)
        ends = pa.array([bounds["min"].as_py(), bounds["max"].as_py()], column.type)
        first, last = f.transform.pyarrow_transform(source.field_type)(ends).to_pylist()
        return (first,) if first == last else None

    def _write_part(self, key: tuple[Any, ...], partition: Record, data: pa.Table, lane: int = 0) -> None:
        handle = self._open.pop((key, lane), None)
        if handle is None:
            if len(self._open) >= OPEN_PARTITIONS:
                self._close_file(next(iter(self._open)))
            schema = _to_requested_schema(requested_schema=self._file_schema, file_schema=self._schema,
                                          batch=data.slice(0, 1).to_batches()[0],
                                          include_field_ids=True, format_model=self._format_model).schema
            handle = self._new_file(schema, key, partition, data.schema.names, lane)
        self._open[(key, lane)] = handle  # most recently written last
        self._submit(lane, self._encode, handle, data)
        handle.written += data.nbytes // 4  # a guess until encoded; the real position decides the roll-over
        if handle.written >= self.target_bytes:
            self._close_file((key, lane))

    def _encode(self, handle: _OpenFile, data: pa.Table) -> None:
        """In the lane's thread: the batch in the file's schema (field ids), encoded and written."""
        batches = [
            _to_requested_schema(requested_schema=self._file_schema, file_schema=self._schema, batch=b,
                                 include_field_ids=True, format_model=self._format_model)
            for b in data.to_batches()
        ]
        table = pa.Table.from_batches(batches)
        handle.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        handle.written = handle.stream.tell()

    def _new_file(self, schema: pa.Schema, key: tuple[Any, ...], partition: Record,
                  source_names: list[str], lane: int) -> _OpenFile:
        name = f"{self._count:05d}-0-{self._uuid}.parquet"
        self._count += 1
        path = self._locations.new_data_location(data_file_name=name,
                                                 partition_key=self._partition_key(key) if key else None)
        stream = self.table.io.new_output(path).create(overwrite=True)
        dictionary = [schema.names[source_names.index(n)] for n in self._dictionary or [] if n in source_names]
        writer = pq.ParquetWriter(
            cast(IO[Any], stream), schema=schema, store_decimal_as_integer=True,
            use_dictionary=dictionary or False, **self._kwargs,
        )
        return _OpenFile(path, stream, writer, partition, lane)

    def _partition_key(self, values: Any) -> Any:
        """pyiceberg's key for partition `values` (transform results, in spec order)."""
        if self._spec.is_unpartitioned():
            return None
        from pyiceberg.partitioning import PartitionFieldValue, PartitionKey

        return PartitionKey(field_values=[PartitionFieldValue(field=f, value=values[i])
                                          for i, f in enumerate(self._spec.fields)],
                            partition_spec=self._spec, schema=self._schema)

    def _close_file(self, key: tuple[tuple[Any, ...], int]) -> None:
        handle = self._open.pop(key, None)
        if handle is None:
            return
        self._closing.append((handle, self._submit(handle.lane, self._finish, handle)))

    def _finish(self, handle: _OpenFile) -> DataFile:
        """In the lane's thread, after the file's last batch: close it and describe it for the commit."""
        handle.writer.close()
        size = handle.stream.tell()
        handle.stream.close()
        stats = data_file_statistics_from_parquet_metadata(
            parquet_metadata=handle.writer.writer.metadata,
            stats_columns=compute_statistics_plan(self._file_schema, self._properties),
            parquet_column_mapping=parquet_path_to_id_mapping(self._file_schema),
        )
        handle.written = size
        return DataFile.from_args(
            content=DataFileContent.DATA, file_path=handle.path, file_format=FileFormat.PARQUET,
            partition=handle.partition, file_size_in_bytes=size, sort_order_id=None,
            spec_id=self.table.metadata.default_spec_id, equality_ids=None, key_metadata=None,
            **stats.to_serialized_dict(),
        )

    def close(self) -> list[DataFile]:
        """Every file closed and described, in the order they were started; the lanes' threads end."""
        try:
            for key in list(self._open):
                self._close_file(key)
            for queued in self._queued:
                while queued:
                    queued.popleft().result()
            self.files.extend(f.result() for _, f in self._closing)
            self._closing.clear()
        finally:
            for executor in self._lanes:
                executor.shutdown(wait=True, cancel_futures=True)
            self._lanes.clear()
            self._queued.clear()
        return self.files

    @property
    def bytes_written(self) -> int:
        """Bytes in this write's files so far (estimated for batches still being encoded)."""
        done = sum(f.file_size_in_bytes for f in self.files)
        return done + sum(h.written for h, _ in self._closing) + sum(h.written for h in self._open.values())
