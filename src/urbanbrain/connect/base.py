"""The `Source` protocol every connector implements, and the value types it speaks.

A connector turns one department system into named objects (tables, files, endpoints) that can be
read as a stream of Arrow record batches, optionally from a cursor. It classifies its failures into
the typed errors of `urbanbrain.core.errors` (unreachable = transient, bad password = terminal), so
the scheduler knows what to retry without parsing messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from urbanbrain.core.registry import Registry

if TYPE_CHECKING:  # Arrow loads with the first connector that reads data, not with `system list`
    import pyarrow as pa


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: pa.DataType
    nullable: bool = True
    source_type: str = ""


@dataclass
class SourceObject:
    """One readable thing in a system: a table, a view, a file set, an API endpoint."""

    name: str
    kind: str
    columns: list[ColumnInfo]
    primary_key: list[str] = field(default_factory=list)
    row_estimate: int | None = None
    cursor_candidates: list[str] = field(default_factory=list)

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.columns])


@dataclass(frozen=True)
class Cursor:
    """Where the last successful sync of an object stopped: rows with `column` beyond `value`.

    `value` is text (ISO for times); `type` is the DuckDB type name used to compare it back.
    """

    column: str
    value: str
    type: str = "VARCHAR"


@dataclass(frozen=True)
class KeyRange:
    """One slice of an object by the values of one column: `low <= column < high` (None: unbounded),
    with the rows whose column is null when `nulls`. A large object is read as several slices at once
    (`sync/split.py`); only sources with `splittable = True` are asked to honour it."""

    column: str
    low: Any = None
    high: Any = None
    nulls: bool = False


@dataclass(frozen=True)
class ReadRequest:
    object: str
    cursor_column: str | None = None
    cursor: Cursor | None = None
    inclusive: bool = False
    batch_rows: int = 100_000
    key_range: KeyRange | None = None
    files: tuple[str, ...] | None = None  # a part of a group of files: only these (`sync/split.py`)
    part_plan: Any = None  # what the source worked out for the whole object, handed to a part (files)


@dataclass(frozen=True)
class Reject:
    """A source record that could not be read or converted, kept with the reason (quarantine)."""

    record: str
    reason: str


@dataclass
class Batch:
    data: pa.RecordBatch | None
    rejects: list[Reject] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """One department system, opened from its connection options.

    `test` raises `AuthenticationError`, `SourceUnreachableError`, ... or returns quietly;
    `discover` lists objects with columns, keys and row estimates; `read` streams batches of one
    object, each at most `batch_rows` rows, only rows beyond the cursor, in whatever order the
    system gives them (files and APIs cannot sort): sync takes the maximum cursor over all rows.
    Every batch of one read has the same schema, the one `discover` reports for the object.
    """

    kind: ClassVar[str]

    def test(self) -> None: ...

    def discover(self) -> list[SourceObject]: ...

    def read(self, request: ReadRequest) -> Iterator[Batch]: ...

    def close(self) -> None: ...


class SourceFactory(Protocol):
    kind: ClassVar[str]

    def __call__(self, options: dict[str, Any]) -> Source: ...


SOURCES: Registry[Any] = Registry("urbanbrain.sources", "connector kind")


def open_source(kind: str, options: dict[str, Any]) -> Source:
    """Instantiate the connector registered under `kind` with its options (after `guards.check_source`:
    no source is ever opened on the platform's own files or on an internal address it was not allowed)."""
    from urbanbrain.connect.guards import check_source

    factory = SOURCES.get(kind)
    check_source(kind, options)
    source: Source = factory(options)
    return source
