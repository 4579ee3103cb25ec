"""A large object synced as several parts at once, committed as one.

An object whose source holds more than `split_rows` rows (beyond its cursor) is cut into parts of about
that many rows each: a database object into key ranges on its cursor column or else its one-column
primary key (numbers, dates and times: ranges are cut by value); a group of files (the files
connector's `object` option) into groups of whole files by their row estimates. Each part is a
function that reads its slice from the source, conforms it and writes data files into the table's
folder, and returns the files it wrote without committing them. Parts run where the sync runs its
work (`core.execution.run_all`): Ray tasks spread over the nodes when the sync itself is a Ray task,
threads otherwise.

Only the sync commits, once, after every part has returned: all parts' files, the deletes of its mode
and the new cursor in one Iceberg commit, exactly as an unsplit sync does. So no reader ever sees a
half-synced object; a part that dies (its node lost) is re-run from scratch by Ray and only the files
of the run that returned are committed (the dead run's files are orphans `lake maintain` removes), so
no row is doubled; a part that fails fails the object and nothing of it is committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
from pyiceberg.manifest import DataFile

from urbanbrain.connect.base import KeyRange, ReadRequest, Reject, Source
from urbanbrain.core.settings import get_settings
from urbanbrain.lake.catalog import Identifier
from urbanbrain.lake.writer import TableWriter
from urbanbrain.meta.models import SyncRunObject
from urbanbrain.sync.cursors import CursorState, TieTracker

log = logging.getLogger("urbanbrain.sync")
MAX_PARTS = 64
REFRESH_SECONDS = 60.0


@dataclass
class PartResult:
    """What one part wrote (uncommitted files) and what the sync needs to finish the object."""

    files: list[DataFile] = field(default_factory=list)
    keys: pa.Table | None = None  # primary keys written (merge mode)
    rows_read: int = 0
    rows_written: int = 0
    bytes_written: int = 0
    rejects: list[Reject] = field(default_factory=list)
    best: Any = None  # highest cursor value written, and the hashes of the rows at it
    tie: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class PartJob:
    """Everything a part needs, picklable (it travels to a Ray node)."""

    system_name: str
    request: ReadRequest
    identifier: Identifier
    target: pa.Schema
    lineage: dict[str, Any]
    primary_key: list[str]
    merge: bool
    sort_by: str | None
    tie_column: str | None = None  # follow the cursor (None: the object has none in the table)
    stored: CursorState | None = None
    strict: bool = True


def _orderable(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                or pa.types.is_timestamp(t) or pa.types.is_date(t))


def split_column(schema: pa.Schema, cursor_column: str | None, primary_key: list[str]) -> str | None:
    """The column to cut ranges on: the cursor, else a one-column primary key, if its values order."""
    for name in ([cursor_column] if cursor_column else []) + (primary_key if len(primary_key) == 1 else []):
        if name in schema.names and _orderable(schema.field(name).type):
            return name
    return None


def cuts(low: Any, high: Any, parts: int) -> list[Any]:
    """Inner boundaries cutting [low, high] into `parts` ranges of equal width (fewer when they collide)."""
    out: list[Any] = []
    for i in range(1, parts):
        if isinstance(low, bool):
            return []
        if isinstance(low, int):
            value: Any = low + (high - low + 1) * i // parts
        elif isinstance(low, float | Decimal | dt.datetime | dt.date):
            value = low + (high - low) * i / parts
        else:
            return []
        if value > low and (not out or value > out[-1]) and value <= high:
            out.append(value)
    return out


def ranges(column: str, low: Any, high: Any, parts: int) -> list[KeyRange]:
    """Key ranges covering every value (and the nulls, in the first range) of `column`."""
    bounds = [None, *cuts(low, high, parts), None]
    return [KeyRange(column, bounds[i], bounds[i + 1], nulls=i == 0) for i in range(len(bounds) - 1)]


def plan(source: Source, request: ReadRequest, column: str | None, estimate: int | None = None
         ) -> list[ReadRequest] | None:
    """The requests of the parts to read `request` in, or None to read it as one (small, or not
    splittable). `estimate`: the source's row estimate for the whole object; at or under the limit, the
    source is not asked to count (most objects are small, and a count is a scan).

    A database object splits into key ranges of `column`; a file source's object that is a group of
    files (`connect/files.py`, the `object` option) into groups of whole files (`file_parts`), since a
    file has no index to cut by value without reading it all."""
    limit = get_settings().sync_split_rows
    if not limit or not getattr(source, "splittable", False):
        return None
    if estimate is not None and 0 < estimate <= limit:  # 0 or less: never analysed, unknown
        return None
    file_parts = getattr(source, "file_parts", None)
    if file_parts is not None:
        requests: list[ReadRequest] | None = file_parts(request, limit, MAX_PARTS)
        return requests if requests and len(requests) > 1 else None
    if column is None:
        return None
    low, high, rows = source.key_bounds(request, column)  # type: ignore[attr-defined]
    if rows <= limit or low is None:
        return None
    parts = ranges(column, low, high, min(MAX_PARTS, math.ceil(rows / limit)))
    if len(parts) < 2:
        return None
    return [dataclasses.replace(request, key_range=r) for r in parts]


def describe(parts: list[ReadRequest]) -> str:
    """`5 key ranges of id` or `3 file groups`, for the log."""
    first = parts[0]
    if first.key_range is not None:
        return f"{len(parts)} key ranges of {first.key_range.column}"
    return f"{len(parts)} file groups"


def run_part(job: PartJob) -> PartResult:
    """Read one key range, conform it, write data files; commit nothing (a module-level function: Ray
    imports it on the node that runs the part)."""
    from urbanbrain.connect.systems import opened_source
    from urbanbrain.lake.catalog import get_catalog
    from urbanbrain.lake.datafiles import DataFileWriter
    from urbanbrain.sync.convert import conform

    table = get_catalog().load_table(job.identifier)
    data = DataFileWriter(table, sort_by=job.sort_by)
    ties = None
    if job.tie_column:
        ties = TieTracker(job.tie_column, job.stored, job.target.field(job.tie_column).type, strict=job.strict)
    out = PartResult()
    keys: list[pa.Table] = []
    with opened_source(job.system_name) as source:
        for batch in source.read(job.request):
            out.rows_read += len(batch.rejects)
            out.rejects.extend(batch.rejects)
            if batch.data is None or not batch.data.num_rows:
                continue
            rows, bad = conform(batch.data, job.target, job.lineage)
            seen = rows.num_rows
            if ties is not None:
                rows = ties.filter(rows)
                ties.observe(rows)
            out.rows_read += batch.data.num_rows - (seen - rows.num_rows)
            out.rejects.extend(bad)
            if rows.num_rows:
                data.write(rows)
                out.rows_written += rows.num_rows
                if job.merge:
                    keys.append(rows.select(job.primary_key))
    out.files = data.close()
    out.bytes_written = sum(f.file_size_in_bytes for f in out.files)
    out.keys = pa.concat_tables(keys) if keys else None
    if ties is not None:
        out.best, out.tie = ties.best, ties.tie
    return out


def run_parts(jobs: list[PartJob], system_id: str) -> list[PartResult]:
    """Run every part (Ray tasks or threads), keeping the system's sync lock fresh while they go."""
    from urbanbrain.core.execution import run_all
    from urbanbrain.sync import locks

    done = threading.Event()

    def keep_lock() -> None:
        while not done.wait(REFRESH_SECONDS):
            locks.refresh(system_id)

    keeper = threading.Thread(target=keep_lock, name="ub-split-lock", daemon=True)
    keeper.start()
    try:
        return run_all(run_part, [(job,) for job in jobs])
    finally:
        done.set()


def combined_ties(results: list[PartResult]) -> tuple[Any, Counter[str]]:
    """The highest cursor value over all parts and the hashes of the rows at it (ranges are disjoint
    by key, so rows at the top value may sit in several parts when the split is by primary key)."""
    tops = [r.best for r in results if r.best is not None]
    if not tops:
        return None, Counter()
    best = max(tops)
    tie: Counter[str] = Counter()
    for r in results:
        if r.best is not None and r.best == best:
            tie.update(r.tie)
    return best, tie


def run_into(parts: list[ReadRequest], job: PartJob, writer: TableWriter, ties: TieTracker | None,
             system_id: str, outcome: SyncRunObject, pending: list[Reject]) -> None:
    """Run the object's parts (key ranges or file groups) and hand what they wrote to the sync's one
    writer, which commits it all with the cursor (`TableWriter.commit`), as one snapshot."""
    jobs = [dataclasses.replace(job, request=r) for r in parts]
    results = run_parts(jobs, system_id)
    for r in results:
        writer.add_files(r.files, r.rows_written, r.keys)  # committed with the writer's own, as one
        outcome.rows_read += r.rows_read
        outcome.rows_written += r.rows_written
        outcome.bytes_written += r.bytes_written
        outcome.rows_rejected += len(r.rejects)
        pending.extend(r.rejects)
    if ties is not None:
        ties.best, ties.tie = combined_ties(results)
    log.info("%s: %s synced as parts", job.identifier[-1], describe(parts))
