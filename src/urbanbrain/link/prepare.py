"""Read the datasets mapped to a kind out of the lake and turn them into one frame of features.

Every source record becomes one row: `unique_id` (dataset|record key), where it came from, when it
was dated, its mapping's priority, a hash of the mapped values (so an incremental run can tell new and
changed records from unchanged ones) and the kind's features from `normalise`. The lake is read
through the query engine as SYSTEM: linking is the platform's own work, and the registry it writes is
governed like any other dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pyarrow as pa

from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import stream_query
from urbanbrain.lake.engine import quote_ident
from urbanbrain.link import generic
from urbanbrain.link.kinds import engine_of, get_kind
from urbanbrain.link.mapping import Mapping, expression_sql, load_mappings
from urbanbrain.link.normalise import FEATURES

BASE = pa.schema([("unique_id", pa.string()), ("source_dataset", pa.string()), ("record_key", pa.string()),
                  ("record_date", pa.string()), ("priority", pa.int32()), ("record_hash", pa.string())])
BOOL_FEATURES = {"id_valid", "credit_valid"}


def engine(kind: str, mappings: list[Mapping] | None = None) -> str:
    """`cn` or `generic` for `kind` given its mappings (see `kinds.engine_of`)."""
    rows = load_mappings(kind) if mappings is None else mappings
    return engine_of(kind, {f for m in rows for f in m.columns})


def feature_schema(kind: str, engine_name: str | None = None) -> pa.Schema:
    if (engine_name or engine(kind)) == "generic":
        return pa.schema([*BASE, *[pa.field(n, t) for n, t in generic.columns_of(get_kind(kind).fields)]])
    names = list(FEATURES[kind](pa.table({"x": pa.array([], pa.string())})))
    return pa.schema([*BASE, *[pa.field(n, pa.bool_() if n in BOOL_FEATURES else pa.string()) for n in names]])


def _source_sql(source: object) -> str:
    if isinstance(source, list):  # several columns into one field: joined with a space, empty parts skipped
        return "NULLIF(concat_ws(' ', " + ", ".join(
            f"NULLIF(trim(CAST({quote_ident(c)} AS VARCHAR)), '')" for c in source) + "), '')"
    text = str(source)
    if text.startswith("="):  # checked by mapping.check_source when it was saved
        return f"CAST(({expression_sql(text)}) AS VARCHAR)"
    return f"CAST({quote_ident(text)} AS VARCHAR)"


def _select(m: Mapping) -> str:
    cols = [f"CAST({quote_ident(m.key_column)} AS VARCHAR) AS record_key"]
    cols += [f"{_source_sql(src)} AS {quote_ident(fld)}" for fld, src in sorted(m.columns.items())]
    date = f"CAST({quote_ident(m.date_column)} AS VARCHAR)" if m.date_column else "NULL"
    cols.append(f"{date} AS record_date")
    table = ".".join(quote_ident(p) for p in m.dataset.split("."))
    return f"SELECT {', '.join(cols)} FROM {table} WHERE {quote_ident(m.key_column)} IS NOT NULL"


def _hash(values: Iterable[object]) -> str:
    return hashlib.blake2b("\x1f".join("" if v is None else str(v) for v in values).encode("utf-8"),
                           digest_size=12).hexdigest()


def features_frame(kind: str, raw: pa.Table, *, dataset: str, priority: int = 100,
                   engine_name: str | None = None) -> pa.Table:
    """Features of raw records with columns record_key, record_date and the kind's field names."""
    engine_name = engine_name or engine(kind)
    schema = feature_schema(kind, engine_name)
    n = raw.num_rows
    fields = sorted(c for c in raw.column_names if c not in ("record_key", "record_date"))
    keys = [str(k) for k in raw.column("record_key").to_pylist()]
    columns = [raw.column(f).to_pylist() for f in fields]
    hashes = [_hash(row) for row in zip(*columns, strict=True)] if columns else [_hash([]) for _ in range(n)]
    dates = raw.column("record_date").to_pylist() if "record_date" in raw.column_names else [None] * n
    base = {"unique_id": [f"{dataset}|{k}" for k in keys], "source_dataset": [dataset] * n, "record_key": keys,
            "record_date": dates, "priority": [priority] * n, "record_hash": hashes}
    feats = generic.features(get_kind(kind).fields, raw) if engine_name == "generic" else FEATURES[kind](raw)
    return pa.table({**base, **feats}, schema=schema)


def prepare(kind: str, mappings: list[Mapping]) -> pa.Table:
    """One frame for all mapped datasets of `kind` (records with an empty mapped address are kept:
    for people and firms other fields carry them; for the address kind they are dropped)."""
    engine_name = engine(kind, mappings)
    schema = feature_schema(kind, engine_name)
    frames = [schema.empty_table()]
    for m in mappings:
        for batch in stream_query(_select(m), principal=SYSTEM):
            frame = features_frame(kind, pa.Table.from_batches([batch]), dataset=m.dataset, priority=m.priority,
                                   engine_name=engine_name)
            if kind == "address" and engine_name == "cn":
                frame = frame.filter(pa.compute.is_valid(frame.column("addr_road")))
            frames.append(frame)
    return pa.concat_tables(frames).combine_chunks()
