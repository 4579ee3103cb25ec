"""Shared machinery of relational sources: read through DuckDB's scanners, inspect through the driver.

Reading goes through DuckDB's postgres/mysql/sqlite scanners because they stream Arrow batches with
bounded memory and measured 2.9 M rows/s here (connectorx: 1.1 M rows/s and materialises the whole
result). Connection testing and catalog queries (keys, row estimates) use the native driver because
its exceptions say precisely what went wrong (bad password vs. unreachable host).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from urbanbrain.connect.base import Batch, ColumnInfo, ReadRequest, SourceObject
from urbanbrain.core import duck
from urbanbrain.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ObjectNotFoundError,
    SourceError,
    SourceUnreachableError,
    UrbanBrainError,
)
from urbanbrain.core.naming import is_identifier
from urbanbrain.core.secrets import redact_text, redact_url, secret_values

CURSOR_HINTS = ("updated", "modified", "changed", "created", "timestamp", "_at", "_time", "time")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLSource:
    """Base class: subclasses set `kind`, `extension`, `default_schema` and the driver hooks."""

    kind: ClassVar[str] = ""
    extension: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any]) -> None:
        if not options.get("url") and not options.get("path"):
            raise ConfigurationError(f"a {self.kind} system needs a connection url", hint="pass --url")
        self.options = options
        self._secrets = secret_values(options)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    # -- hooks for subclasses -------------------------------------------------------------------
    def attach_target(self) -> str:
        raise NotImplementedError

    def default_schema(self) -> str:
        raise NotImplementedError

    def ping(self) -> None:
        """Open a native connection and run `select 1`; raise typed errors."""
        raise NotImplementedError

    def catalog(self) -> tuple[dict[str, list[str]], dict[str, int | None]]:
        """(primary keys by 'schema.table', row estimates by 'schema.table') from the native driver."""
        return {}, {}

    # -- shared ---------------------------------------------------------------------------------
    @property
    def display(self) -> str:
        return redact_url(str(self.options.get("url") or self.options.get("path")))

    def clean(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def _duck(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                con = duck.connect(threads=2)
                duck.load_extension(con, self.extension)
                try:
                    target = self._literal(self.attach_target())
                    con.execute(f"ATTACH {target} AS src (TYPE {self.kind_for_duckdb()}, READ_ONLY)")
                except duckdb.Error as exc:
                    con.close()
                    self.ping()  # the driver explains the failure precisely
                    raise SourceUnreachableError(
                        f"cannot attach {self.display}: {self.clean(str(exc))}"
                    ) from None
                self._con = con
            return self._con

    def kind_for_duckdb(self) -> str:
        return self.kind

    @staticmethod
    def _literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def test(self) -> None:
        self.ping()

    def _object_name(self, schema: str, table: str) -> str:
        return table if schema == self.default_schema() else f"{schema}.{table}"

    def _split(self, name: str) -> tuple[str, str]:
        if "." in name:
            schema, table = name.split(".", 1)
            return schema, table
        return self.default_schema(), name

    def _wanted(self, schema: str, table: str) -> bool:
        schemas = self.options.get("schemas")
        tables = self.options.get("tables")
        if schemas and schema not in schemas:
            return False
        return not (tables and self._object_name(schema, table) not in tables and table not in tables)

    def discover(self) -> list[SourceObject]:
        try:
            return self._discover()
        except duckdb.Error as exc:
            raise SourceError(f"cannot list the tables of {self.display}: {self.clean(str(exc))}") from None

    def _discover(self) -> list[SourceObject]:
        con = self._duck()
        rows = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = 'src' AND table_schema NOT IN ('information_schema', 'pg_catalog', "
            "'mysql', 'performance_schema', 'sys') ORDER BY 1, 2"
        ).fetchall()
        keys, estimates = self.catalog()
        objects = []
        for schema, table, table_type in rows:
            if not self._wanted(schema, table):
                continue
            columns = self._columns(schema, table)
            full = f"{schema}.{table}"
            pk = keys.get(full, [])
            cursor = [c.name for c in columns if _looks_like_cursor(c)]
            if len(pk) == 1 and pk[0] not in cursor and any(
                c.name == pk[0] and pa.types.is_integer(c.type) for c in columns
            ):
                cursor.append(pk[0])
            objects.append(SourceObject(
                name=self._object_name(schema, table),
                kind="view" if "VIEW" in str(table_type).upper() else "table",
                columns=columns, primary_key=pk, row_estimate=estimates.get(full),
                cursor_candidates=cursor,
            ))
        return objects

    def _columns(self, schema: str, table: str) -> list[ColumnInfo]:
        con = self._duck()
        rel = con.execute(f"SELECT * FROM src.{quote(schema)}.{quote(table)} LIMIT 0")
        arrow_schema = rel.fetch_record_batch().schema
        described = con.execute(f"DESCRIBE src.{quote(schema)}.{quote(table)}").fetchall()
        source_types = {row[0]: str(row[1]) for row in described}
        return [ColumnInfo(f.name, f.type, True, source_types.get(f.name, "")) for f in arrow_schema]

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        schema, table = self._split(request.object)
        con = self._duck().cursor()
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog='src' "
            "AND table_schema = ? AND table_name = ?", [schema, table]
        ).fetchone()
        if not exists or not exists[0]:
            raise ObjectNotFoundError(f"table {request.object!r} not found in {self.display}",
                                      hint="run `urbanbrain system discover` to refresh the object list",
                                      object=request.object)
        where, params = _conditions(request)
        sql = f"SELECT * FROM src.{quote(schema)}.{quote(table)}" + (" WHERE " + " AND ".join(where) if where else "")
        try:
            reader = con.execute(sql, params).fetch_record_batch(request.batch_rows)
            for rb in reader:
                if rb.num_rows:
                    yield Batch(rb)
        except UrbanBrainError:
            raise
        except duckdb.Error as exc:
            raise SourceError(f"reading {request.object!r} from {self.display} failed: {self.clean(str(exc))}",
                              object=request.object) from None
        finally:
            con.close()

    splittable: ClassVar[bool] = True  # `read` honours `ReadRequest.key_range`

    def key_bounds(self, request: ReadRequest, column: str) -> tuple[Any, Any, int]:
        """(min, max, rows) of `column` over the rows `request` would read: where to cut key ranges."""
        schema, table = self._split(request.object)
        where, params = _conditions(request)
        sql = (f"SELECT min({quote(column)}), max({quote(column)}), count(*) FROM src.{quote(schema)}.{quote(table)}"
               + (" WHERE " + " AND ".join(where) if where else ""))
        con = self._duck().cursor()
        try:
            row = con.execute(sql, params).fetchone()
        except duckdb.Error as exc:
            raise SourceError(f"reading {request.object!r} from {self.display} failed: {self.clean(str(exc))}",
                              object=request.object) from None
        finally:
            con.close()
        assert row is not None
        return row[0], row[1], int(row[2])

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def _conditions(request: ReadRequest) -> tuple[list[str], list[Any]]:
    """WHERE clauses (and their parameters) for the request's cursor and key range."""
    where: list[str] = []
    params: list[Any] = []
    if request.cursor is not None:
        op = ">=" if request.inclusive else ">"
        if not is_identifier(request.cursor.type.lower().split("(")[0].replace(" ", "_")):
            raise ConfigurationError(f"bad cursor type {request.cursor.type!r}")
        where.append(f"{quote(request.cursor.column)} {op} CAST(? AS {request.cursor.type})")
        params.append(request.cursor.value)
    if (r := request.key_range) is not None:
        bounds = []
        if r.low is not None:
            bounds.append(f"{quote(r.column)} >= ?")
            params.append(r.low)
        if r.high is not None:
            bounds.append(f"{quote(r.column)} < ?")
            params.append(r.high)
        clause = " AND ".join(bounds) or "TRUE"
        where.append(f"({clause} OR {quote(r.column)} IS NULL)" if r.nulls else f"({clause})")
    return where, params


def _looks_like_cursor(col: ColumnInfo) -> bool:
    lowered = col.name.lower()
    is_time = pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)
    return is_time and any(h in lowered for h in CURSOR_HINTS)


def classify_driver_error(exc: Exception, display: str, clean: Any) -> UrbanBrainError:
    """Map a driver's connection error to our typed errors by its well-known texts and codes."""
    text = clean(str(exc)).strip()
    low = text.lower()
    code = getattr(exc, "args", [None])[0] if exc.args else None
    if (isinstance(code, int) and code in (1044, 1045, 1698)) or any(s in low for s in (
        "password authentication failed", "access denied", "no password supplied",
        "authentication failed", "pg_hba.conf", "role \"",
    )):
        return AuthenticationError(f"{display} refused the credentials: {text}",
                                   hint="fix the user name or password with `urbanbrain system update`")
    if (isinstance(code, int) and code == 1049) or ("database" in low and "does not exist" in low) \
            or "unknown database" in low:
        return ObjectNotFoundError(f"{display}: {text}", hint="check the database name in the URL")
    if (isinstance(code, int) and code in (2002, 2003, 2005, 2013)) or any(s in low for s in (
        "connection refused", "timeout", "timed out", "could not translate host", "name or service not known",
        "can't connect", "no route to host", "is the server running", "network is unreachable",
        "temporary failure in name resolution", "server closed the connection",
    )):
        return SourceUnreachableError(f"{display} is unreachable: {text}",
                                      hint="check the host and port, and that the database server is running")
    return SourceError(f"{display}: {text}")
