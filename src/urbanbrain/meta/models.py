"""The metadata store's tables. It describes data; it never holds data rows.

Columns are portable between SQLite (embedded) and PostgreSQL (production); JSON goes in `JSON`
columns, times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from urbanbrain.core.clock import utcnow
from urbanbrain.core.ids import new_id


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True),
    }


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dept"))
    code: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    systems: Mapped[list[System]] = relationship(back_populates="department")


class System(Base):
    """A department information system we connect to: kind, encrypted options, schedule, health."""

    __tablename__ = "systems"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sys"))
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    options_secret: Mapped[str] = mapped_column(Text)
    display_url: Mapped[str] = mapped_column(Text, default="")
    schedule: Mapped[str] = mapped_column(String(100), default="manual")
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    health: Mapped[str] = mapped_column(String(20), default="unknown")
    health_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    health_checked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lock_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lock_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship(back_populates="systems")
    objects: Mapped[list[SourceObjectRecord]] = relationship(
        back_populates="system", cascade="all, delete-orphan", order_by="SourceObjectRecord.name"
    )


class SourceObjectRecord(Base):
    """What discovery found in a system, and how the steward wants it synced."""

    __tablename__ = "source_objects"
    __table_args__ = (UniqueConstraint("system_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("obj"))
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(40))
    columns: Mapped[list[Any]] = mapped_column(default=list)
    primary_key: Mapped[list[Any]] = mapped_column(default=list)
    cursor_candidates: Mapped[list[Any]] = mapped_column(default=list)
    row_estimate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cursor_column: Mapped[str | None] = mapped_column(String(255), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    discovered_at: Mapped[datetime] = mapped_column(default=utcnow)

    system: Mapped[System] = relationship(back_populates="objects")


class Dataset(Base):
    """A lake table: one per source object (plus its quarantine), with lineage and freshness."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ds"))
    name: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(20), default="data")  # data | quarantine
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    object_name: Mapped[str] = mapped_column(String(255))
    table_identifier: Mapped[str] = mapped_column(String(255))
    schema_json: Mapped[list[Any]] = mapped_column(default=list)
    primary_key: Mapped[list[Any]] = mapped_column(default=list)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    snapshot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    system: Mapped[System] = relationship()


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("run"))
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_transient: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    system: Mapped[System] = relationship()
    objects: Mapped[list[SyncRunObject]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="SyncRunObject.object_name"
    )


class SyncRunObject(Base):
    """Per-object outcome of a run: one object can fail while the others land."""

    __tablename__ = "sync_run_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    object_name: Mapped[str] = mapped_column(String(255))
    dataset_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    mode: Mapped[str] = mapped_column(String(20), default="full")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    run: Mapped[SyncRun] = relationship(back_populates="objects")


# --- the capability center ---------------------------------------------------------------------


class Capability(Base):
    """A reusable capability one department releases to the city: a data API, a built-in or a proxy."""

    __tablename__ = "capabilities"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cap"))
    name: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title_zh: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)  # draft|published|deprecated
    kind: Mapped[str] = mapped_column(String(40))  # data_api | builtin | http_proxy (a registry of kinds)
    input_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    implementation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    implementation_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)

    department: Mapped[Department] = relationship()


class Consumer(Base):
    """An application owned by a department that calls capabilities with API keys."""

    __tablename__ = "consumers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("con"))
    name: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()


class ApiKey(Base):
    """A consumer's key: shown once, stored as a SHA-256 hash (keys are 256-bit random), revocable."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)

    consumer: Mapped[Consumer] = relationship()


class Grant(Base):
    """Permission for a consumer to call a capability, approved by the capability's owning department."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("grant"))
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    capability_id: Mapped[str] = mapped_column(ForeignKey("capabilities.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    per_minute: Mapped[int] = mapped_column(Integer, default=60)
    per_day: Mapped[int] = mapped_column(Integer, default=10_000)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)

    consumer: Mapped[Consumer] = relationship()
    capability: Mapped[Capability] = relationship()


class UsageRecord(Base):
    """One metered call: who called what, when, how long it took, what came back."""

    __tablename__ = "capability_usage"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    capability_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    consumer_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    consumer_department_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    result_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
