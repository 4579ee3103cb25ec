"""Settings: environment `URBANBRAIN_*`, then `urbanbrain.toml` in the working directory, then defaults.

Embedded by default (everything under `URBANBRAIN_HOME`); production changes only these values.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


@lru_cache(maxsize=64)
def _resolved(path: Path) -> Path:
    """`path` made absolute with symlinks resolved: hot paths ask for the home many times a query
    (`metadata_url` is part of cache keys), and resolving walks every component each time."""
    return path.expanduser().resolve()


class Settings(BaseSettings):
    """Every knob urbanbrain reads. Paths default under `home`."""

    model_config = SettingsConfigDict(
        env_prefix="URBANBRAIN_", toml_file="urbanbrain.toml", extra="ignore"
    )

    home: Path = Field(default=Path(".urbanbrain"), description="Where embedded state lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store and Iceberg catalog; SQLite under home if unset.",
    )
    sqlite_synchronous: str = Field(
        default="full", pattern=r"^(full|normal)$",
        description="SQLite metadata store's commit durability. full: every commit is on disk (fsync) before it "
                    "returns, safe against power loss. normal: in WAL mode a commit survives a crash of the "
                    "process but the last commits before a power loss or OS crash may be lost (the database is "
                    "never corrupted); a commit costs no fsync (4-9 ms on this machine's disk).",
    )
    warehouse: str | None = Field(default=None, description="Iceberg warehouse location; home/warehouse if unset.")
    secret_key: str | None = Field(default=None, description="Fernet key for secrets at rest; a key file otherwise.")
    batch_rows: int = Field(default=100_000, ge=1_000, description="Rows per Arrow batch while syncing.")
    engine: str = Field(
        default="inprocess",
        description="Where the worker runs syncs: inprocess (threads here), ray://HOST:PORT (a Ray cluster "
                    "through the Ray client) or ray://auto (the cluster this machine is a node of).",
    )
    log_format: str = Field(default="text", pattern=r"^(text|json)$",
                            description="text for people, json for log collectors (one object a line).")
    worker_concurrency: int = Field(default=2, ge=1, description="Syncs the worker runs at once.")
    sync_split_rows: int = Field(
        default=5_000_000, ge=0,
        description="An object with more rows than this (beyond its cursor) is synced as key ranges of about this "
                    "many rows, run at once (Ray tasks on a cluster) and committed as one; 0: never split.",
    )
    retry_attempts: int = Field(default=3, ge=0, description="Retries of a transient sync failure.")
    retry_base_seconds: float = Field(default=2.0, ge=0, description="First backoff; doubles per retry.")
    link_partitions: int = Field(
        default=0, ge=0,
        description="A full linking run scores pairs in this many partitions per blocking key (Ray tasks on a "
                    "ray:// engine); 0: the Ray cluster's CPUs on a ray:// engine, one piece in process.",
    )
    query_daft_above_bytes: int = Field(
        default=0, ge=0,
        description="`urbanbrain sql` (engine auto) runs a query on Daft when the datasets it reads hold this many "
                    "bytes of data files or more (on the Ray cluster with a ray:// engine); 0: always DuckDB.",
    )
    query_memory_limit: str = Field(default="4GB", description="DuckDB memory limit for SQL queries.")
    city_code: str = Field(default="430100", pattern=r"^(\d{6})?$",
                           description="GB/T 2260 code of the city served (Chinese address parsing); '' elsewhere.")
    query_max_rows: int = Field(default=100_000, ge=1, description="Rows returned by the SQL API at most.")
    demo_db_prefix: str = Field(default="ub_demo", pattern=r"^[a-z][a-z0-9_]{0,30}$",
                                description="Prefix of the demo's PostgreSQL/MariaDB databases.")
    source_timeout_seconds: float = Field(default=30.0, gt=0, description="Connect/read timeout for sources.")
    redis_url: str | None = Field(
        default=None,
        description="Redis for gateway quota counters shared by several processes; in memory if unset.",
    )
    redis_prefix: str = Field(default="ub", description="Prefix of every Redis key urbanbrain writes.")
    mask_cache_max_bytes: int = Field(
        default=256 * 1024 ** 2, ge=0,
        description="A caller's masked view of a dataset up to this many bytes of data files is kept for later "
                    "queries; larger ones are masked into a private file per query (0: never kept).",
    )
    mask_cache_total_bytes: int = Field(
        default=2 * 1024 ** 3, ge=0, description="Disk kept for materialised masked views, least recently used out.",
    )
    lake_target_file_bytes: int = Field(
        default=256 * 1024 ** 2, ge=1024,
        description="Data files are rolled over at this size; `lake maintain` compacts smaller ones up to it.",
    )
    lake_snapshot_retention_hours: float = Field(
        default=168, ge=0, description="Table snapshots older than this are expired by `lake maintain`.",
    )
    lake_snapshot_keep: int = Field(
        default=5, ge=1, description="The newest snapshots of a table `lake maintain` keeps whatever their age.",
    )
    lake_orphan_grace_hours: float = Field(
        default=24, ge=0,
        description="Files in a table's folder that no snapshot references are removed once this old "
                    "(younger ones may belong to a write still running).",
    )
    lake_maintain_every_hours: float = Field(
        default=24, ge=0, description="How often the worker (and the stream runner) runs `lake maintain` (0: never).",
    )
    sla_sweep_every_seconds: float = Field(
        default=60, ge=0, description="How often the worker raises due SLA warnings and escalations (0: never).",
    )
    indicator_compute_every_seconds: float = Field(
        default=60, ge=0, description="How often the worker computes the indicators whose schedule is due (0: never).",
    )
    case_publish_every_minutes: float = Field(
        default=15, ge=0, description="How often the worker rewrites the case tables in the lake (0: never).",
    )
    upload_max_bytes: int = Field(
        default=10 * 1024 ** 2, ge=1024,
        description="Largest photo a department may attach when reporting back on a case; an upload is refused "
                    "(413) as soon as a file passes it, before anything changes.",
    )
    upload_max_files: int = Field(default=6, ge=1, le=50, description="Photos one case feedback may carry.")
    writer_process: bool = Field(
        default=False,
        description="Write metering and audit batches from a child process, off the serving process's GIL "
                    "(`urbanbrain serve` turns it on).",
    )
    file_roots: str | None = Field(
        default=None,
        description="Folders `files` and `sqlite` systems may read, separated by os.pathsep; <cwd>/data if unset. "
                    "Nothing under home, the warehouse, the metadata database or the key file is ever readable.",
    )
    source_hosts: str | None = Field(
        default=None,
        description="Comma-separated hosts, addresses or CIDR networks database and REST systems may connect to; "
                    "any public host if unset. Loopback and link-local addresses only when listed here.",
    )
    warmup: bool = Field(
        default=True,
        description="After a server starts, import, compile and prime in a background thread what the first "
                    "requests (the operations-centre wall) would otherwise pay (`web.warmup`); false leaves "
                    "every first-use cost to the first request (tests).",
    )
    telemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers). Off by "
                    "default: checking for providers on every request cost the gateway ~10 us a call.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def home_dir(self) -> Path:
        path = _resolved(self.home)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def metadata_url(self) -> str:
        if self.database_url:
            return normalise_db_url(self.database_url)
        return f"sqlite:///{self.home_dir / 'metadata.db'}"

    @property
    def warehouse_path(self) -> Path:
        """Local folder of table files (object stores would use `warehouse` as a URI)."""
        if self.warehouse:
            raw = self.warehouse.removeprefix("file://")
            path = Path(raw).expanduser().resolve()
        else:
            path = self.home_dir / "warehouse"
        path.mkdir(parents=True, exist_ok=True)
        return path


def normalise_db_url(url: str) -> str:
    """Users write `postgresql://...`; SQLAlchemy needs a driver name. Pick psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings(**overrides: Any) -> Settings:
    """Forget cached settings (tests and the CLI's `--home` flag call this)."""
    get_settings.cache_clear()
    for key, value in overrides.items():
        os.environ[f"URBANBRAIN_{key.upper()}"] = str(value)
    return get_settings()
