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
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

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
    # the steward's partition spec for the object's lake table (`day(time)`, ...); None: chosen by size
    partition_by: Mapped[list[Any] | None] = mapped_column(nullable=True)

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
    status: Mapped[str] = mapped_column(String(32), default="running", index=True)  # succeeded_with_rejects
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


class CacheStamp(Base):
    """A counter per in-process cache, bumped with every change to what it caches, so that other
    processes can tell with one tiny read whether their cached rows are still current."""

    __tablename__ = "cache_stamps"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


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


# --- governance: users, sessions, audit ----------------------------------------------------------


class User(Base):
    """A person who logs in to the console or calls the API with a personal token."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("user"))
    name: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)

    roles: Mapped[list[UserRole]] = relationship(back_populates="user", cascade="all, delete-orphan")


class UserRole(Base):
    """One role of a user in one department (platform admins have no department)."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), nullable=True)

    user: Mapped[User] = relationship(back_populates="roles")
    department: Mapped[Department | None] = relationship()


class PersonalToken(Base):
    """A user's API token: shown once, stored as a SHA-256 hash like consumers' API keys, revocable."""

    __tablename__ = "personal_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tok"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)

    user: Mapped[User] = relationship()


class ConsoleSession(Base):
    """A logged-in browser: the cookie holds a random token, this row only its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's token
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    client: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed login, counted per user name and per client address to throttle guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)  # "user:<name>" or "addr:<ip>"
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    """One audited action; `hash` covers this row's content and the previous row's hash."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    principal: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(80), index=True)
    target: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's single head row (id 1): appenders lock it, so the chain stays linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# --- governance: classification, row filters, data-sharing grants ------------------------------


class DatasetClassification(Base):
    """A dataset's default sharing level, applied to fields a steward has not classified."""

    __tablename__ = "dataset_classifications"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    default_level: Mapped[str] = mapped_column(String(20), default="conditional")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FieldClassification(Base):
    """One field's sharing level and PII type: proposed on sync from samples, confirmed by a steward."""

    __tablename__ = "field_classifications"
    __table_args__ = (UniqueConstraint("dataset_id", "column"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("fld"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    column: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(20))  # open | conditional | closed
    pii_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    mask: Mapped[str | None] = mapped_column(String(20), nullable=True)  # partial | hash | redact | none
    proposed_pii_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    proposed_confidence: Mapped[float | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="default")  # default | proposed | confirmed
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FieldLabel(Base):
    """A steward's display name and description of a field (`column == ""`: of the dataset itself), in
    zh-CN and English; generated capability titles and the console use them instead of raw column names."""

    __tablename__ = "field_labels"
    __table_args__ = (UniqueConstraint("dataset_id", "column"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("lbl"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    column: Mapped[str] = mapped_column(String(255))
    label_zh: Mapped[str] = mapped_column(String(200), default="")
    label_en: Mapped[str] = mapped_column(String(200), default="")
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class RowFilter(Base):
    """Rows one department may see of another's dataset, e.g. a district office sees its district."""

    __tablename__ = "row_filters"
    __table_args__ = (UniqueConstraint("dataset_id", "department"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rowf"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    department: Mapped[str] = mapped_column(String(63), index=True)
    predicate: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DataGrant(Base):
    """A department's request for fields of another department's dataset, and the owner's decision.

    Visible while `status == "approved"` and `expires_at` is in the future: expiry needs no job.
    """

    __tablename__ = "data_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dgr"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    grantee_department: Mapped[str] = mapped_column(String(63), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_fields: Mapped[list[Any]] = mapped_column(default=list)
    approved_fields: Mapped[list[Any]] = mapped_column(default=list)
    unmasked: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[str] = mapped_column(Text)
    duration_days: Mapped[int] = mapped_column(Integer, default=30)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)

    dataset: Mapped[Dataset] = relationship()


# --- the real-time layer (urbanbrain.stream) ----------------------------------------------------


class Feed(Base):
    """A live source of device readings (MQTT topic, NATS subject, HTTP push) owned by a department.

    Its history lands in the dataset `<dept>.<feed>.observations`, registered under the feed's own
    `System` row (kind `feed`) so lineage, classification and grants work as for synced datasets."""

    __tablename__ = "stream_feeds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("feed"))
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # mqtt | nats | http (a registry of feed kinds)
    options_secret: Mapped[str] = mapped_column(Text)  # url, topic, credentials: encrypted at rest
    model: Mapped[str | None] = mapped_column(String(80), nullable=True)  # a Smart Data Model, e.g. AirQualityObserved
    format: Mapped[str] = mapped_column(String(20), default="ngsi")  # ngsi | json | csv
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # HTTP push key, SHA-256
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    messages_total: Mapped[int] = mapped_column(BigInteger, default=0)
    readings_total: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_letters_total: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    department: Mapped[Department] = relationship()


class DeviceState(Base):
    """A device registered on its first message, with the latest value of every attribute (the live
    state, persisted so a restart starts from it)."""

    __tablename__ = "stream_devices"
    __table_args__ = (UniqueConstraint("feed_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("stream_feeds.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80), default="")
    department: Mapped[str] = mapped_column(String(63), index=True)
    lon: Mapped[float | None] = mapped_column(nullable=True)
    lat: Mapped[float | None] = mapped_column(nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name -> {"value": v, "observedAt": iso}
    observed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """A message a feed could not accept, kept with the raw payload (cut at 64 KiB) and the reason."""

    __tablename__ = "stream_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("stream_feeds.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    device_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    raw_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class StreamRule(Base):
    """A rule over one feed's readings, e.g. `pm25 > 75 for 10m` or `silent 15m`."""

    __tablename__ = "stream_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rule"))
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("stream_feeds.id", ondelete="CASCADE"), index=True)
    expression: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20), default="minor")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class StreamAlert(Base):
    """An alert raised by a rule for one device: raised -> acknowledged -> cleared; at most one open
    (raised or acknowledged) per rule and device."""

    __tablename__ = "stream_alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("alrt"))
    rule_id: Mapped[str] = mapped_column(ForeignKey("stream_rules.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[str] = mapped_column(String(40), index=True)
    department: Mapped[str] = mapped_column(String(63), index=True)
    device_id: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="raised", index=True)
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- city operations: cases (the event closed loop) --------------------------------------------


SLA_PENDING = (("respond_warn_at", "respond_warned_at", "responded_at"),
               ("respond_due_at", "respond_overdue_at", "responded_at"),
               ("resolve_warn_at", "resolve_warned_at", "resolved_at"),
               ("resolve_due_at", "resolve_overdue_at", "resolved_at"))
SLA_MARKS = ("respond_warned_at", "respond_overdue_at", "resolve_warned_at", "resolve_overdue_at")


class CaseSla(Base):
    """One SLA clock of a case as the sweep sees it: `kind` indexes `SLA_PENDING` (0 respond warning,
    1 respond due, 2 resolve warning, 3 resolve due), its moment, when it was raised, and when the case
    stopped it (responded or resolved). A narrow row per clock in a table of its own (migration 0020):
    marking one sets `raised_at` and touches this small row's key and nothing of `cases`, whose wide rows
    carried ten indexes. Kept in step with `cases` by `urbanbrain.operate.cases` (written with the case;
    deadlines and stops follow every transition); only the sweep writes `raised_at`."""

    __tablename__ = "case_sla"
    __table_args__ = (Index("ix_case_sla_pending", "kind", "due_at",
                            sqlite_where=text("raised_at IS NULL AND stopped_at IS NULL"),
                            postgresql_where=text("raised_at IS NULL AND stopped_at IS NULL")),)

    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    raised_at: Mapped[datetime | None] = mapped_column(nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)


def _sla_mark(name: str, case_id: Any) -> Any:
    """A mark read from `case_sla` as an attribute of `Case` (read-only; a correlated sub-select)."""
    return column_property(select(CaseSla.raised_at).where(CaseSla.case_id == case_id,
                                                           CaseSla.kind == SLA_MARKS.index(name))
                           .correlate_except(CaseSla).scalar_subquery())


class Case(Base):
    """One reported problem, from intake to close. Changed only by `urbanbrain.operate.cases` transitions;
    `version` rises with each, so a writer holding an older version is refused instead of overwriting.
    SLA deadlines are columns here and in `case_sla`, where the sweep marks the moments warnings and
    escalations were raised (read here as the attributes `respond_warned_at` ...), so timers survive
    restarts and the sweep is one indexed UPDATE per kind of a narrow table."""

    __tablename__ = "cases"
    # (category, lat): the duplicates check's box (migration 0022); also every look-up by category
    __table_args__ = (UniqueConstraint("channel", "source_ref"), Index("ix_cases_category_lat", "category", "lat"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    department: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    district: Mapped[str | None] = mapped_column(String(100), nullable=True)
    street: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lon: Mapped[float | None] = mapped_column(nullable=True)
    lat: Mapped[float | None] = mapped_column(nullable=True)
    reporter: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reporter_contact: Mapped[str | None] = mapped_column(String(200), nullable=True)
    person_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    proposal: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into: Mapped[str | None] = mapped_column(String(40), nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column()
    dispatched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    respond_warn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    respond_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolve_warn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolve_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    respond_warned_at: Mapped[datetime | None] = _sla_mark("respond_warned_at", id)
    respond_overdue_at: Mapped[datetime | None] = _sla_mark("respond_overdue_at", id)
    resolve_warned_at: Mapped[datetime | None] = _sla_mark("resolve_warned_at", id)
    resolve_overdue_at: Mapped[datetime | None] = _sla_mark("resolve_overdue_at", id)


class CaseEvent(Base):
    """A case's history: one row per transition and per SLA warning/escalation, never updated."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column()
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(63), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseAttachment(Base):
    """A photo or document a department attached when reporting back; bytes live under URBANBRAIN_HOME."""

    __tablename__ = "case_attachments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("att"))
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(Base):
    """Time limits for responding (accepting) and resolving, by category and priority (`*` = any)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("category", "priority"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sla"))
    category: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(20), default="*")
    respond_minutes: Mapped[int] = mapped_column(Integer)
    resolve_minutes: Mapped[int] = mapped_column(Integer)
    working_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class WorkCalendar(Base):
    """The city's working calendar: working hours (local time), working weekdays, holidays, make-up days."""

    __tablename__ = "work_calendars"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    day_start: Mapped[str] = mapped_column(String(5), default="09:00")
    day_end: Mapped[str] = mapped_column(String(5), default="17:30")
    weekdays: Mapped[list[Any]] = mapped_column(default=lambda: [0, 1, 2, 3, 4])
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    workdays: Mapped[list[Any]] = mapped_column(default=list)


class DispatchRule(Base):
    """The dispatch catalogue: who owns a category in a district (`*` = every district)."""

    __tablename__ = "dispatch_rules"
    __table_args__ = (UniqueConstraint("category", "district"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("drule"))
    category: Mapped[str] = mapped_column(String(100), index=True)
    district: Mapped[str] = mapped_column(String(100), default="*")
    department: Mapped[str] = mapped_column(String(63))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class IntakeCursor(Base):
    """How far an intake channel has read its source (e.g. the last ticket id imported from a dataset)."""

    __tablename__ = "intake_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Indicator(Base):
    """A vital sign of the city: SQL over lake datasets (or a registered Python function), thresholds, an
    owner, a schedule, and its current state (the last good value, the traffic light, the last error,
    whether it is stale)."""

    __tablename__ = "indicators"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ind"))
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    title_zh: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(40), default="")
    theme: Mapped[str] = mapped_column(String(40), default="general", index=True)
    direction: Mapped[str] = mapped_column(String(10), default="up")
    sql: Mapped[str] = mapped_column(Text)  # "" when the indicator is a registered function
    function: Mapped[str | None] = mapped_column(String(100), nullable=True)  # `urbanbrain.indicators` entry
    breakdown: Mapped[str | None] = mapped_column(String(100), nullable=True)
    target: Mapped[str | None] = mapped_column(String(40), nullable=True)
    warn: Mapped[str | None] = mapped_column(String(40), nullable=True)
    alarm: Mapped[str | None] = mapped_column(String(40), nullable=True)
    department: Mapped[str] = mapped_column(String(63), index=True)
    schedule: Mapped[str] = mapped_column(String(100), default="manual")
    iso_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="unknown")
    value: Mapped[float | None] = mapped_column(nullable=True)
    computed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    alert_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    running_since: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class IndicatorValue(Base):
    """One point of an indicator's time series: the city-wide value (`key` = "") or one breakdown
    value's (a district, say). Appended by every good computation, never updated."""

    __tablename__ = "indicator_values"
    __table_args__ = (Index("ix_indicator_values_indicator_at", "indicator_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    indicator_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    key: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[float | None] = mapped_column(nullable=True)


class Lease(Base):
    """Who runs a piece of scheduled work now (`sync:<system>`, `indicator:<name>`, `maintain:<table>`):
    an expiring row with its owner and last heartbeat, so several workers and servers share the work
    and a dead holder's lease is taken over once it expires (`meta/leases.py`)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class IocScreen(Base):
    """A named screen of the operations centre's wall (`/ioc?screen=<name>`): which indicator themes or
    indicators it shows as tiles and which map layers; edited by the operations centre (`ioc.configure`)."""

    __tablename__ = "ioc_screens"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    tiles: Mapped[list[Any]] = mapped_column(default=list)
    layers: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
