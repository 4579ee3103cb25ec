"""A feed's rollups: 1 min / 1 h / 1 day buckets per device and attribute, kept as history is written.

`<dept>.<feed>.rollups` (Iceberg, partitioned by grain and day): `grain` (`1m`, `1h`, `1d`),
`device_id`, `attribute` (the history column), `bucket` (its start, UTC), `min`, `max`, `sum`,
`count`, `avg`, `last` (the value at `last_at`, the bucket's latest observation). Every history
commit hands its rows here: their partial aggregates (DuckDB over the Arrow batch) are merged with
the stored rows of the buckets the batch touches, and only those buckets are rewritten, in one
Iceberg commit. So a query reads finished aggregates; nothing is recomputed from the raw history.

The rollup commit follows the history commit; the table records the latest `ingested_at` it covers,
so a process that stopped between the two (or a rollup commit that failed) catches up from the
history rows ingested after it. The dataset has role `rollup` and is read under the policy of the
feed's history (`govern.policy`): an attribute hidden or masked there is not in the rollups either.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from urbanbrain.core.naming import dataset_name
from urbanbrain.meta.dataset_rows import record_dataset
from urbanbrain.meta.db import session_scope

log = logging.getLogger(__name__)
GRAINS = {"1m": "minute", "1h": "hour", "1d": "day"}
COVERED_PROPERTY = "urbanbrain.rollup.ingested-through"
NOT_VALUES = {"device_id", "type", "observed_at", "ingested_at", "lon", "lat", "other"}
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([("grain", pa.string()), ("device_id", pa.string()), ("attribute", pa.string()),
                    ("bucket", TS), ("min", pa.float64()), ("max", pa.float64()), ("sum", pa.float64()),
                    ("count", pa.int64()), ("avg", pa.float64()), ("last", pa.float64()), ("last_at", TS)])
MERGE_PENDING_ROWS = 1_000_000  # pending partials past this many rows are merged into one table
KEYS = ("grain", "device_id", "attribute", "bucket")


def partials(data: pa.Table) -> pa.Table:
    """Aggregates of one batch of history rows, per grain, device, numeric attribute and bucket."""
    import duckdb

    values = [f.name for f in data.schema if f.name not in NOT_VALUES and pa.types.is_floating(f.type)]
    if not values or not data.num_rows:
        return SCHEMA.empty_table()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("batch", data.select(["device_id", "observed_at", *values]))
        cols = ", ".join(f'"{v}"' for v in values)
        # minutes from the readings, then hours and days from the (far fewer) minute rows
        out = con.execute(f"""
            WITH long AS (UNPIVOT batch ON {cols} INTO NAME attribute VALUE value),
                 m AS (SELECT device_id, attribute, date_trunc('minute', observed_at) AS bucket, min(value) AS min,
                              max(value) AS max, sum(value) AS sum, count(value) AS count,
                              arg_max(value, observed_at) AS last, max(observed_at) AS last_at
                       FROM long GROUP BY ALL),
                 grains(grain, unit) AS (VALUES ('1h', 'hour'), ('1d', 'day'))
            SELECT '1m' AS grain, device_id, attribute, bucket, min, max, sum, count, sum / count AS avg, last,
                   last_at FROM m
            UNION ALL
            SELECT grain, device_id, attribute, date_trunc(unit, bucket) AS bucket, min(min), max(max), sum(sum),
                   sum(count), sum(sum) / sum(count), arg_max(last, last_at), max(last_at)
            FROM m, grains GROUP BY grain, device_id, attribute, date_trunc(unit, bucket)""").to_arrow_table()
    finally:
        con.close()
    return out.select(SCHEMA.names).cast(SCHEMA)


def merge(stored: pa.Table, batch: pa.Table) -> pa.Table:
    """Stored buckets combined with a batch's partials (min of mins, sums of sums and counts, the
    last value of the later `last_at`)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("stored", stored.select(SCHEMA.names).cast(SCHEMA))
        con.register("batch", batch)
        out = con.execute("""
            SELECT grain, device_id, attribute, bucket, min(min) AS min, max(max) AS max, sum(sum) AS sum,
                   sum(count) AS count, sum(sum) / sum(count) AS avg, arg_max(last, last_at) AS last,
                   max(last_at) AS last_at
            FROM (SELECT * FROM stored UNION ALL SELECT * FROM batch) GROUP BY ALL""").to_arrow_table()
    finally:
        con.close()
    return out.select(SCHEMA.names).cast(SCHEMA)


def _touched(batch: pa.Table) -> Any:
    """An Iceberg filter matching exactly the (grain, bucket) pairs of a batch."""
    from pyiceberg.expressions import And, EqualTo, In, Or

    parts: list[Any] = []
    pairs = batch.group_by(["grain", "bucket"]).aggregate([])  # distinct, in Arrow: a batch has ~300k rows
    by_grain: dict[str, set[str]] = {}
    for g, b in zip(pairs.column("grain").to_pylist(), pairs.column("bucket").to_pylist(), strict=True):
        by_grain.setdefault(g, set()).add(b.isoformat())
    for g, bs in sorted(by_grain.items()):
        parts.append(And(EqualTo("grain", g), In("bucket", bs)))  # type: ignore[call-arg,arg-type]
    expr = parts[0]
    for p in parts[1:]:
        expr = Or(expr, p)
    return expr


class Rollups:
    def __init__(self, department: str, feed: str, system_id: str, write_seconds: float = 30.0) -> None:
        self.name = dataset_name(department, feed, "rollups")
        self.history_name = dataset_name(department, feed, "observations")
        self.identifier = tuple(self.name.split("."))
        self.system_id = system_id
        self._table: Any = None
        self.behind = False  # a rollup commit failed: catch up from history before the next merge
        self.write_seconds = write_seconds
        self._written = time.monotonic()
        self._pending: list[pa.Table] = []  # partials of commits not yet written
        self._pending_covered: datetime | None = None

    def open(self) -> None:
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import Schema
        from pyiceberg.transforms import DayTransform, IdentityTransform
        from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

        from urbanbrain.lake.catalog import create_table_if_missing

        types = {"grain": StringType(), "device_id": StringType(), "attribute": StringType(),
                 "bucket": TimestamptzType(), "count": LongType(), "last_at": TimestamptzType()}
        schema = Schema(*[NestedField(i + 1, n, types.get(n, DoubleType()), required=False)
                          for i, n in enumerate(SCHEMA.names)])
        spec = PartitionSpec(PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(),
                                            name="grain"),
                             PartitionField(source_id=4, field_id=1001, transform=DayTransform(),
                                            name="bucket_day"))
        self._table = create_table_if_missing(self.identifier, schema, spec)
        self._register()

    @property
    def covered(self) -> str | None:
        value = self._table.properties.get(COVERED_PROPERTY)
        return str(value) if value else None

    def add(self, data: pa.Table, *, force: bool = False) -> int:
        """Fold one committed batch of history rows into the pending partials, and write them when
        `write_seconds` have passed since the last write (or `force`); returns bucket rows written."""
        if self.behind:
            self._pending, self._pending_covered = [], None
            self.catch_up()
            return 0  # the catch-up read this batch from history too
        if data.num_rows:
            covered = datetime.fromtimestamp(
                max(data.column("ingested_at").cast(pa.int64()).to_pylist()) / 1e6, UTC)
            self._pending.append(partials(data))
            self._pending_covered = max(covered, self._pending_covered or covered)
            if sum(t.num_rows for t in self._pending) > MERGE_PENDING_ROWS:  # keep memory bounded
                self._pending = [merge(pa.concat_tables(self._pending[:-1]), self._pending[-1])]
        if not self._pending or not (force or time.monotonic() - self._written >= self.write_seconds):
            return 0
        pending = self._pending[0] if len(self._pending) == 1 else merge(
            pa.concat_tables(self._pending[:-1]), self._pending[-1])
        covered_through = self._pending_covered
        self._pending, self._pending_covered = [], None
        self._written = time.monotonic()
        assert covered_through is not None
        try:
            return self._merge(pending, covered_through)
        except Exception:
            self.behind = True  # what was pending is in history: the next add catches up from there
            raise

    def _merge(self, batch: pa.Table, covered: datetime) -> int:
        from urbanbrain.lake.catalog import get_catalog

        if not batch.num_rows:
            return 0
        where = _touched(batch)
        stored = self._table.scan(row_filter=where).to_arrow()
        merged = merge(stored, batch)
        with self._table.transaction() as tx:
            if stored.num_rows:
                tx.overwrite(merged, overwrite_filter=where)
            else:
                tx.append(merged)
            tx.set_properties({COVERED_PROPERTY: covered.isoformat()})
        self._table = get_catalog().load_table(self.identifier)
        self._register()
        return merged.num_rows

    def catch_up(self) -> int:
        """Merge the history rows ingested after what the rollups cover (after a stop between the two
        commits, or a failed rollup commit)."""
        from pyiceberg.expressions import GreaterThan

        from urbanbrain.lake.catalog import get_catalog

        history = get_catalog().load_table(tuple(self.history_name.split(".")))
        if history.current_snapshot() is None:
            self.behind = False
            return 0
        covered = self.covered
        scan = history.scan(row_filter=GreaterThan("ingested_at", covered)) if covered else history.scan()  # type: ignore[call-arg,arg-type]
        data = scan.to_arrow()
        self.behind = False
        if not data.num_rows:
            return 0
        n = data.num_rows
        last = datetime.fromtimestamp(max(data.column("ingested_at").cast(pa.int64()).to_pylist()) / 1e6, UTC)
        self._merge(partials(data), last)
        log.info("rollups %s: caught up %d history rows", self.name, n)
        return n

    def _register(self) -> None:
        snap = self._table.current_snapshot()
        total = int(snap.summary.get("total-records", 0)) if snap and snap.summary else 0
        with session_scope() as s:
            record_dataset(s, self.name, system_id=self.system_id, object_name="rollups", fields=SCHEMA,
                           primary_key=list(KEYS), role="rollup", rows=total,
                           snapshot_id=snap.snapshot_id if snap else None)
