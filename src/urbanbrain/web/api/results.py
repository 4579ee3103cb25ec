"""Query results over HTTP: JSON for looking, CSV and Parquet streamed for downloading.

JSON is `{"columns": [...], "rows": [[...]], "truncated": bool}`: rows as arrays, because SQL allows two
columns with one name. It is encoded with `json.dumps` directly (not FastAPI's per-value encoder),
which matters at 100k rows. Downloads are encoded batch by batch as the engine produces them.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi.responses import Response
from pydantic import BaseModel

from urbanbrain.govern.query import QueryResult
from urbanbrain.lake.types import csv_ready


class QueryResponse(BaseModel):
    """The JSON shape of a query result (documented in OpenAPI)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)  # exact: a float would silently round money
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def json_response(result: QueryResult) -> Response:
    columns = [c.to_pylist() for c in result.table.columns]
    payload = {"columns": result.table.column_names, "rows": [list(r) for r in zip(*columns, strict=True)],
               "truncated": result.truncated}
    body = json.dumps(payload, default=_default, ensure_ascii=False, allow_nan=False).encode()
    return Response(body, media_type="application/json")


def csv_chunks(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    header = True
    for batch in batches:
        sink = io.BytesIO()
        pacsv.write_csv(csv_ready(pa.Table.from_batches([batch], schema)), sink,
                        pacsv.WriteOptions(include_header=header))
        header = False
        yield sink.getvalue()
    if header:
        sink = io.BytesIO()
        pacsv.write_csv(csv_ready(schema.empty_table()), sink, pacsv.WriteOptions(include_header=True))
        yield sink.getvalue()


class _Collector(io.RawIOBase):
    """A write-only stream that hands written bytes back to the response generator."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def parquet_chunks(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Collector()
    writer = pq.ParquetWriter(sink, schema)
    try:
        for batch in batches:
            writer.write_batch(batch)
            chunk = sink.take()
            if chunk:
                yield chunk
    finally:
        writer.close()
    yield sink.take()
