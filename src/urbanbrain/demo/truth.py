"""The ground truth of who is who, for the entity-resolution work that follows.

Under `URBANBRAIN_HOME/demo/truth/`:

* `persons.parquet`, `enterprises.parquet`, `addresses.parquet` -- the real entities (one row each);
* `person_links.parquet`, `enterprise_links.parquet`, `address_links.parquet` -- one row per source
  record: `dataset` (the lake name `dept.system.object`), `record_key` (the value of that object's
  key column, as text), `key_column` and `entity_id`.

A linker is scored by joining its clusters to the links on (dataset, record_key).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LINK_SCHEMA = pa.schema([("dataset", pa.string()), ("department", pa.string()), ("system", pa.string()),
                         ("object", pa.string()), ("key_column", pa.string()), ("record_key", pa.string()),
                         ("entity_id", pa.string())])
HIDDEN = {"__person_id": "person", "__enterprise_id": "enterprise", "__address_id": "address"}


class TruthWriter:
    """Streams links and entity tables to Parquet, so `large` never holds them all in memory."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._links = {kind: pq.ParquetWriter(folder / f"{kind}_links.parquet", LINK_SCHEMA)
                       for kind in HIDDEN.values()}
        self._entities: dict[str, pq.ParquetWriter] = {}
        self.counts = dict.fromkeys(HIDDEN.values(), 0)

    def entities(self, kind: str, table: pa.Table) -> None:
        if kind not in self._entities:
            self._entities[kind] = pq.ParquetWriter(self.folder / f"{kind}s.parquet", table.schema)
        self._entities[kind].write_table(table.cast(self._entities[kind].schema))

    def split(self, table: pa.Table, *, dataset: str, department: str, system: str, obj: str, key: str) -> pa.Table:
        """Record the hidden truth columns of `table` as links and return the table without them."""
        for column, kind in HIDDEN.items():
            if column not in table.column_names or not table.num_rows:
                continue
            n = table.num_rows
            links = pa.table({
                "dataset": pa.array([dataset] * n), "department": pa.array([department] * n),
                "system": pa.array([system] * n), "object": pa.array([obj] * n), "key_column": pa.array([key] * n),
                "record_key": pc.cast(table.column(key), pa.string()),
                "entity_id": pc.cast(table.column(column), pa.string()),
            }, schema=LINK_SCHEMA)
            self._links[kind].write_table(links)
            self.counts[kind] += n
        return table.drop_columns([c for c in table.column_names if c.startswith("__")])

    def close(self) -> None:
        for writer in [*self._links.values(), *self._entities.values()]:
            writer.close()


def truth_dir(home: Path) -> Path:
    return home / "demo" / "truth"
