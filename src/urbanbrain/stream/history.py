"""A feed's history: one Iceberg table `<dept>.<feed>.observations`, partitioned by day.

Readings are buffered and committed in micro-batches (a row or time threshold). Each commit carries
the journal position it covers as a table property, in the same atomic commit as the rows, so a
crash leaves either both or neither. Duplicates (device + observedAt seen before) are dropped: the
keys of recent commits are kept in memory and, on start, read back from the rows ingested in the
last minutes before the previous stop. The table is registered as a dataset under the feed's system
row, so `urbanbrain sql`, classification, grants and lineage treat it like any synced dataset.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

import pyarrow as pa

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import CommitConflictError
from urbanbrain.core.naming import dataset_name
from urbanbrain.meta.dataset_rows import record_dataset
from urbanbrain.meta.db import session_scope
from urbanbrain.stream.payloads import Reading

JOURNAL_PROPERTY = "urbanbrain.stream.journal"
LAST_INGEST_PROPERTY = "urbanbrain.stream.last-ingest"
DEDUPE_LOOKBACK = timedelta(minutes=15)
FIXED = ("device_id", "type", "observed_at", "ingested_at", "lon", "lat", "other")
TS = pa.timestamp("us", tz="UTC")
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def column_for(attribute: str) -> str:
    """Attribute names become columns; anything odd is sanitised and never shadows a fixed column."""
    name = attribute if _SAFE.match(attribute) else re.sub(r"[^A-Za-z0-9_]", "_", attribute)[:63] or "attr"
    if not name[0].isalpha() and name[0] != "_":
        name = f"a_{name}"
    return f"attr_{name}" if name.lower() in FIXED else name


class RecentKeys:
    """(device, observed-at µs) of the last `limit` readings: the dedupe window."""

    def __init__(self, limit: int = 2_000_000) -> None:
        self.limit = limit
        self._set: set[tuple[str, int]] = set()
        self._order: deque[tuple[str, int]] = deque()

    def add(self, key: tuple[str, int]) -> bool:
        """False when the key was already seen."""
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.limit:
            self._set.discard(self._order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._set)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def reading_key(r: Reading) -> tuple[str, int]:
    return (r.device_id, _micros(r.observed_at))


class History:
    def __init__(self, department: str, feed: str, system_id: str) -> None:
        self.name = dataset_name(department, feed, "observations")
        self.identifier = tuple(self.name.split("."))
        self.system_id = system_id
        self.recent = RecentKeys()
        self._rows: list[Reading] = []
        self._ingested: list[datetime] = []
        self._lock = threading.Lock()  # the buffer: the worker adds, a committer thread may put back
        self._types: dict[str, pa.DataType] = {}
        self._table: Any = None
        self.duplicates = 0
        self.committed_data: pa.Table | None = None  # the rows of the last commit (for the rollups)

    # --- table -------------------------------------------------------------------------------

    def open(self) -> dict[str, str]:
        """Create the table when missing; returns its properties (the committed journal position)."""
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import Schema
        from pyiceberg.transforms import DayTransform
        from pyiceberg.types import DoubleType, NestedField, StringType, TimestamptzType

        from urbanbrain.lake.catalog import create_table_if_missing

        schema = Schema(
            NestedField(1, "device_id", StringType(), required=False),
            NestedField(2, "type", StringType(), required=False),
            NestedField(3, "observed_at", TimestamptzType(), required=False),
            NestedField(4, "ingested_at", TimestamptzType(), required=False),
            NestedField(5, "lon", DoubleType(), required=False),
            NestedField(6, "lat", DoubleType(), required=False),
            NestedField(7, "other", StringType(), required=False),
        )
        spec = PartitionSpec(PartitionField(source_id=3, field_id=1000, transform=DayTransform(),
                                            name="observed_day"))
        self._table = create_table_if_missing(self.identifier, schema, spec)
        self._types = {f.name: f.type for f in self._arrow_schema()}
        self._register()
        return dict(self._table.properties)

    def _arrow_schema(self) -> pa.Schema:
        from urbanbrain.lake.writer import _plain

        arrow = self._table.schema().as_arrow()
        return pa.schema([pa.field(f.name, _plain(f.type), True) for f in arrow])

    def load_recent_keys(self, properties: dict[str, str]) -> int:
        """Keys of rows ingested shortly before the last commit: what a broker may redeliver."""
        last = properties.get(LAST_INGEST_PROPERTY)
        if not last or self._table.current_snapshot() is None:
            return 0
        from pyiceberg.expressions import GreaterThanOrEqual

        since = datetime.fromisoformat(last) - DEDUPE_LOOKBACK
        scan = self._table.scan(row_filter=GreaterThanOrEqual("ingested_at", since.isoformat()),  # type: ignore[call-arg,arg-type]
                                selected_fields=("device_id", "observed_at"))
        data = scan.to_arrow()
        devices = data.column("device_id").to_pylist()
        stamps = data.column("observed_at").cast(pa.int64()).to_pylist()
        for d, t in zip(devices, stamps, strict=True):
            self.recent.add((d, t))
        return data.num_rows

    # --- buffering and commits ----------------------------------------------------------------

    def add(self, reading: Reading, ingested: datetime) -> bool:
        """Buffer one reading; False (and counted) when it is a duplicate."""
        if not self.recent.add(reading_key(reading)):
            self.duplicates += 1
            return False
        with self._lock:
            self._rows.append(reading)
            self._ingested.append(ingested)
        return True

    def add_many(self, readings: list[Reading], ingested: datetime) -> list[Reading]:
        """Buffer a batch; returns the readings that were not duplicates."""
        add = self.recent.add
        micros: dict[datetime, int] = {}  # readings of one message usually share their time
        fresh = [r for r in readings if add((r.device_id, micros.get(r.observed_at) or micros.setdefault(
            r.observed_at, _micros(r.observed_at))))]
        self.duplicates += len(readings) - len(fresh)
        with self._lock:
            self._rows.extend(fresh)
            self._ingested.extend([ingested] * len(fresh))
        return fresh

    def take(self) -> tuple[list[Reading], list[datetime]]:
        """Hand the buffer to a commit (which may run in another thread)."""
        with self._lock:
            rows, ingested = self._rows, self._ingested
            self._rows, self._ingested = [], []
        return rows, ingested

    def restore(self, rows: list[Reading], ingested: list[datetime]) -> None:
        """A commit failed: its rows go back in front of the buffer for the next attempt."""
        with self._lock:
            self._rows, self._ingested = rows + self._rows, ingested + self._ingested

    @property
    def pending(self) -> int:
        return len(self._rows)

    def _to_arrow(self, rows: list[Reading], ingested: list[datetime]) -> pa.Table:
        """Column by column: an attribute whose values all fit its column's type becomes one Arrow
        array in a single call; only a column with misfits (a text in a number column) goes cell by
        cell, and its misfits land in `other` as JSON."""
        n = len(rows)
        attrs = list(map(attrgetter("attributes"), rows))
        shapes = dict.fromkeys(map(tuple, attrs))  # readings of a feed share a few key sets, often one
        names: dict[str, None] = {}
        for shape in shapes:
            names.update(dict.fromkeys(shape))
        by_name = _transpose(attrs, list(names)) if len(shapes) == 1 else None
        # every column is pulled out with map + attrgetter/methodcaller: no Python frame per row
        columns: dict[str, pa.Array] = {
            "device_id": pa.array(list(map(attrgetter("device_id"), rows)), pa.string()),
            "type": pa.array(list(map(attrgetter("type"), rows)), pa.string()),
            "observed_at": pa.array(list(map(attrgetter("observed_at"), rows)), TS),
            "ingested_at": pa.array(ingested, TS),
            "lon": pa.array(list(map(attrgetter("lon"), rows)), pa.float64()),
            "lat": pa.array(list(map(attrgetter("lat"), rows)), pa.float64()),
        }
        built: dict[str, list[Any]] = {}
        misfits: dict[int, dict[str, Any]] = {}
        for name in names:
            col = column_for(name)
            values = by_name[name] if by_name is not None else [a.get(name) for a in attrs]
            want = self._types.get(col) or _type_of(next((v for v in values if v is not None), None))
            self._types.setdefault(col, want)
            kinds = set(map(type, values))
            fits = kinds <= _FLOAT_KINDS if pa.types.is_floating(want) else kinds <= _TEXT_KINDS
            if fits and col not in built:
                built[col] = values
                continue
            cells = built.setdefault(col, [None] * n)
            for i, value in enumerate(values):
                if value is None:
                    continue
                cell = _cell(value, want)
                if cell is _MISFIT:
                    misfits.setdefault(i, {})[name] = value
                elif cells[i] is None:
                    cells[i] = cell
        columns["other"] = pa.array([json.dumps(misfits[i], ensure_ascii=False, default=str) if i in misfits
                                     else None for i in range(n)] if misfits else [None] * n, pa.string())
        for col, values in built.items():
            columns[col] = pa.array(values, self._types[col])
        return pa.table(columns)

    def commit(self, journal_position: str) -> int:
        """Commit the whole buffer now (this thread); on failure the rows stay buffered."""
        rows, ingested = self.take()
        try:
            return self.commit_rows(rows, ingested, journal_position)
        except BaseException:
            self.restore(rows, ingested)
            raise

    def commit_rows(self, rows: list[Reading], ingested: list[datetime], journal_position: str) -> int:
        """One atomic commit: `rows` and the journal position they reach. Returns rows written."""
        from pyiceberg.exceptions import CommitFailedException

        from urbanbrain.lake.catalog import get_catalog

        data = self._to_arrow(rows, ingested)
        new = [pa.field(n, data.schema.field(n).type) for n in data.column_names
               if n not in {f.name for f in self._arrow_schema()}]
        if new:
            with self._table.update_schema() as upd:
                upd.union_by_name(pa.schema(new))
            self._table = get_catalog().load_table(self.identifier)
        target = self._arrow_schema()
        for f in target:
            if f.name not in data.column_names:
                data = data.append_column(f, pa.nulls(data.num_rows, f.type))
        data = data.select(target.names).cast(target)
        last = max(ingested).isoformat() if ingested else utcnow().isoformat()
        for attempt in (1, 2):
            try:
                with self._table.transaction() as tx:
                    if data.num_rows:
                        tx.append(data)
                    tx.set_properties({JOURNAL_PROPERTY: journal_position, LAST_INGEST_PROPERTY: last})
                break
            except CommitFailedException as exc:
                # `lake maintain` compacts this table now and then: start again from its new state once
                self._table = get_catalog().load_table(self.identifier)
                if attempt == 2:
                    raise CommitConflictError(f"another writer committed to {self.name} first: {exc}",
                                              hint="run one stream process per feed") from None
        self._table = get_catalog().load_table(self.identifier)
        self._register()
        self.committed_data = data
        return len(rows)

    def _register(self) -> None:
        snap = self._table.current_snapshot()
        total = int(snap.summary.get("total-records", 0)) if snap and snap.summary else 0
        with session_scope() as s:
            record_dataset(s, self.name, system_id=self.system_id, object_name="observations",
                           fields=self._arrow_schema(), primary_key=["device_id", "observed_at"], rows=total,
                           snapshot_id=snap.snapshot_id if snap else None)


_MISFIT = object()


def _transpose(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    """Columns of dicts that all have exactly `names`: one `itemgetter` per row and a `zip`, both in C."""
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: list(map(itemgetter(names[0]), rows))}
    return dict(zip(names, map(list, zip(*map(itemgetter(*names), rows), strict=True)), strict=True))
_FLOAT_KINDS = {int, float, type(None)}
_TEXT_KINDS = {str, type(None)}


def _type_of(value: Any) -> pa.DataType:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pa.float64()
    return pa.string()


def _cell(value: Any, want: pa.DataType) -> Any:
    if pa.types.is_floating(want):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _MISFIT
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
