"""Public shapes of metadata, shared by the API (response models) and the CLI (tables, CSV, JSON).

Secrets never appear here: systems expose only a redacted display URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from urbanbrain.core.clock import as_utc

# SQLite hands datetimes back without their zone; every public time is UTC and says so.
UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DepartmentPublic(Public):
    id: str
    code: str
    name: str
    created_at: UTCDateTime
    systems: int = 0


class SourceObjectPublic(Public):
    name: str
    kind: str
    columns: list[dict[str, Any]]
    primary_key: list[str]
    cursor_candidates: list[str]
    row_estimate: int | None
    cursor_column: str | None
    enabled: bool
    discovered_at: UTCDateTime
    partition_by: list[str] | None = None


class SystemPublic(Public):
    id: str
    name: str
    department: str
    kind: str
    display_url: str
    schedule: str
    owner: str | None
    description: str | None
    health: str
    health_reason: str | None
    health_checked_at: UTCDateTime | None
    next_run_at: UTCDateTime | None
    last_sync_at: UTCDateTime | None
    objects: int = 0
    created_at: UTCDateTime
    checks: list[str] = []  # what `system add` verified at once (path exists, host resolves)


class DatasetPublic(Public):
    id: str
    name: str
    role: str
    system: str
    department: str
    object_name: str
    table_identifier: str
    row_count: int
    last_synced_at: UTCDateTime | None
    last_run_id: str | None
    columns: list[dict[str, Any]]
    primary_key: list[str]


class SyncRunObjectPublic(Public):
    object_name: str
    dataset_name: str | None
    status: str
    mode: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    bytes_written: int
    error: str | None


class SyncRunPublic(Public):
    id: str
    system: str
    trigger: str
    status: str
    attempt: int
    started_at: UTCDateTime
    finished_at: UTCDateTime | None
    rows_read: int
    rows_written: int
    rows_rejected: int
    bytes_written: int
    error: str | None
    error_transient: bool | None = None
    objects: list[SyncRunObjectPublic] = []


class LineagePublic(Public):
    dataset: str
    department: str
    department_name: str
    system: str
    system_kind: str
    source_object: str
    source: str
    last_run_id: str | None
    last_synced_at: UTCDateTime | None
    snapshot_id: int | None
