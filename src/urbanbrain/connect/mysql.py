"""MySQL and MariaDB systems: read through DuckDB's mysql scanner, inspect with PyMySQL."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from urbanbrain.connect.sqlsource import SQLSource, classify_driver_error


class MySQLSource(SQLSource):
    kind: ClassVar[str] = "mysql"
    extension: ClassVar[str] = "mysql"

    def _parts(self) -> dict[str, Any]:
        parts = urlsplit(str(self.options["url"]))
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/"),
        }

    def default_schema(self) -> str:
        return str(self._parts()["database"])

    def _wanted(self, schema: str, table: str) -> bool:
        """In MySQL a schema is a database: other databases on the server are other systems' data,
        so only the URL's database is read unless `schemas` names more."""
        if not self.options.get("schemas") and schema != self.default_schema():
            return False
        return super()._wanted(schema, table)

    def attach_target(self) -> str:
        p = self._parts()
        fields = [f"host={p['host']}", f"port={p['port']}", f"user={p['user']}", f"database={p['database']}"]
        if p["password"]:
            fields.append(f"password={p['password']}")
        return " ".join(fields)

    def _connect(self) -> Any:
        import pymysql

        from urbanbrain.core.settings import get_settings

        p = self._parts()
        timeout = int(self.options.get("timeout", get_settings().source_timeout_seconds))
        return pymysql.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"],
                               database=p["database"] or None, connect_timeout=max(1, timeout))

    def ping(self) -> None:
        import pymysql

        try:
            conn = self._connect()
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.close()
        except pymysql.Error as exc:
            raise classify_driver_error(exc, self.display, self.clean) from None

    def catalog(self) -> tuple[dict[str, list[str]], dict[str, int | None]]:
        import pymysql

        keys: dict[str, list[str]] = {}
        estimates: dict[str, int | None] = {}
        try:
            conn = self._connect()
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT table_schema, table_name, column_name FROM information_schema.key_column_usage "
                    "WHERE constraint_name = 'PRIMARY' ORDER BY ordinal_position")
                for schema, table, column in cur.fetchall():
                    keys.setdefault(f"{schema}.{table}", []).append(column)
                cur.execute("SELECT table_schema, table_name, table_rows FROM information_schema.tables")
                for schema, table, rows in cur.fetchall():
                    estimates[f"{schema}.{table}"] = int(rows) if rows is not None else None
            conn.close()
        except pymysql.Error as exc:
            raise classify_driver_error(exc, self.display, self.clean) from None
        return keys, estimates
