"""PostgreSQL systems: read through DuckDB's postgres scanner (binary COPY), inspect with psycopg."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from urbanbrain.connect.sqlsource import SQLSource, classify_driver_error


class PostgresSource(SQLSource):
    kind: ClassVar[str] = "postgres"
    extension: ClassVar[str] = "postgres"

    def default_schema(self) -> str:
        return str(self.options.get("schema", "public"))

    def _url(self) -> str:
        url = str(self.options["url"])
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if "+" in url.split("://", 1)[0]:
            url = "postgresql://" + url.split("://", 1)[1]
        return url

    def attach_target(self) -> str:
        url = self._url()
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}connect_timeout={int(self._timeout())}"

    def _timeout(self) -> float:
        from urbanbrain.core.settings import get_settings

        return float(self.options.get("timeout", get_settings().source_timeout_seconds))

    def ping(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self._url(), connect_timeout=max(1, int(self._timeout()))) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise classify_driver_error(exc, self.display, self.clean) from None

    def catalog(self) -> tuple[dict[str, list[str]], dict[str, int | None]]:
        import psycopg

        keys: dict[str, list[str]] = {}
        estimates: dict[str, int | None] = {}
        try:
            with psycopg.connect(self._url(), connect_timeout=max(1, int(self._timeout()))) as conn:
                for schema, table, column in conn.execute(
                    """SELECT tc.table_schema, tc.table_name, kcu.column_name
                       FROM information_schema.table_constraints tc
                       JOIN information_schema.key_column_usage kcu
                         ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
                       WHERE tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position"""
                ):
                    keys.setdefault(f"{schema}.{table}", []).append(column)
                for schema, table, tuples in conn.execute(
                    """SELECT n.nspname, c.relname, c.reltuples::bigint FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m')"""
                ):
                    estimates[f"{schema}.{table}"] = int(tuples) if tuples is not None and tuples >= 0 else None
        except psycopg.Error as exc:
            raise classify_driver_error(exc, self.display, self.clean) from None
        return keys, estimates

    @property
    def database(self) -> str:
        return urlsplit(self._url()).path.lstrip("/")
