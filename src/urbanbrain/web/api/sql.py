"""`POST /api/sql`: one read-only query over the lake, as JSON or as a CSV/Parquet download.

The caller is `current_principal`; `engine` (auto, duckdb, daft) picks where the query runs through
`govern.engine_choice.run_sql`, the same path as `urbanbrain sql --engine`. The engine shows it only
its masked views and enforces read-only (403 for writes and for files outside the lake); this route only picks
the encoding. JSON answers stop at `max_rows` (capped by the `query_max_rows` setting); downloads
stream every row unless `max_rows` is given. The first batch is fetched before the response starts,
so a bad query still gets a proper error status rather than a broken download.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Literal

import pyarrow as pa
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from urbanbrain.core.settings import get_settings
from urbanbrain.govern.engine_choice import check_engine, run_sql, stream_sql
from urbanbrain.govern.principals import Principal
from urbanbrain.web.api.bounds import INT32_MAX, NoNul
from urbanbrain.web.api.results import QueryResponse, csv_chunks, json_response, parquet_chunks
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["sql"])


class SqlQuery(BaseModel):
    sql: Annotated[str, NoNul] = Field(min_length=1, max_length=100_000,
                                       examples=["SELECT * FROM market.licences.licences LIMIT 10"])
    format: Literal["json", "csv", "parquet"] = "json"
    max_rows: int | None = Field(default=None, ge=0, le=INT32_MAX, description="At most this many rows.")
    engine: str = Field(default="auto", max_length=16, examples=["auto"],
                        description="auto, duckdb or daft (govern.engine_choice); the rows and masks are the "
                                    "same on both, only where the work runs differs. Unknown: 400.")


def _limit(batches: Iterator[pa.RecordBatch], max_rows: int | None) -> Iterator[pa.RecordBatch]:
    if max_rows is None:
        yield from batches
        return
    left = max_rows
    for batch in batches:
        if left <= 0:
            return
        yield batch.slice(0, left)
        left -= min(left, batch.num_rows)


def _opened(sql: str, max_rows: int | None, principal: Principal, engine: str
            ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    batches = stream_sql(sql, principal=principal, engine=engine)
    first = next(batches, None)
    if first is None:
        return run_sql(sql, max_rows=0, principal=principal, engine=engine).table.schema, iter(())
    return first.schema, _limit(chain([first], batches), max_rows)


@router.post("/sql", response_model=QueryResponse,
             responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})
def query(body: SqlQuery, principal: CurrentPrincipal) -> Response:
    cap = get_settings().query_max_rows
    engine = check_engine(body.engine)
    if body.format == "json":
        limit = cap if body.max_rows is None else min(body.max_rows, cap)
        return json_response(run_sql(body.sql, max_rows=limit, principal=principal, engine=engine))
    schema, batches = _opened(body.sql, body.max_rows, principal, engine)
    if body.format == "csv":
        return StreamingResponse(csv_chunks(schema, batches), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="query.csv"'})
    return StreamingResponse(parquet_chunks(schema, batches), media_type="application/vnd.apache.parquet",
                             headers={"Content-Disposition": 'attachment; filename="query.parquet"'})
