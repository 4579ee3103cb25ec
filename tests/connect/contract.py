"""The contract every connector passes. Subclass `SourceContract` and provide the `case` fixture.

Write the contract once; every new connector gets the whole suite by overriding one fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pytest

from urbanbrain.connect.base import SOURCES, Cursor, ReadRequest, Reject, Source, open_source
from urbanbrain.core.errors import ObjectNotFoundError, SourceError


@dataclass
class ContractCase:
    kind: str
    options: dict[str, Any]
    object_name: str
    expected_rows: int
    id_column: str
    cursor_column: str | None = None
    # a cursor value and how many rows lie strictly beyond it
    cursor: Cursor | None = None
    rows_after_cursor: int | None = None
    broken_options: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Source:
        return open_source(self.kind, self.options)


class SourceContract:
    """Shared behaviour of every `Source`."""

    @pytest.fixture
    def case(self) -> ContractCase:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_registered_by_entry_point(self, case: ContractCase) -> None:
        assert case.kind in SOURCES.names()

    def test_satisfies_protocol(self, case: ContractCase) -> None:
        src = case.open()
        try:
            assert isinstance(src, Source)
            assert src.kind == case.kind
        finally:
            src.close()

    def test_test_succeeds_on_good_options(self, case: ContractCase) -> None:
        src = case.open()
        try:
            src.test()
        finally:
            src.close()

    def test_discover_lists_object_with_columns(self, case: ContractCase) -> None:
        src = case.open()
        try:
            objects = {o.name: o for o in src.discover()}
        finally:
            src.close()
        assert case.object_name in objects, list(objects)
        obj = objects[case.object_name]
        names = [c.name for c in obj.columns]
        assert case.id_column in names
        assert all(isinstance(c.type, pa.DataType) for c in obj.columns)

    def test_read_streams_every_row_in_bounded_batches(self, case: ContractCase) -> None:
        src = case.open()
        try:
            batches = list(src.read(ReadRequest(object=case.object_name, batch_rows=2)))
        finally:
            src.close()
        datas = [b.data for b in batches if b.data is not None]
        assert all(d.num_rows <= 2 for d in datas)
        assert sum(d.num_rows for d in datas) == case.expected_rows
        ids = [v for d in datas for v in d.column(case.id_column).to_pylist()]
        assert len(ids) == len(set(ids)) == case.expected_rows

    def test_read_schema_is_stable_across_batches(self, case: ContractCase) -> None:
        src = case.open()
        try:
            datas = [b.data for b in src.read(ReadRequest(object=case.object_name, batch_rows=2)) if b.data]
        finally:
            src.close()
        assert datas
        first = datas[0].schema
        assert all(d.schema.equals(first) for d in datas)

    def test_discovered_schema_matches_read_schema(self, case: ContractCase) -> None:
        """The lake table is created from what is read; discovery must not promise otherwise."""
        src = case.open()
        try:
            obj = next(o for o in src.discover() if o.name == case.object_name)
            datas = [b.data for b in src.read(ReadRequest(object=case.object_name, batch_rows=2)) if b.data]
        finally:
            src.close()
        assert [(c.name, c.type) for c in obj.columns] == [(f.name, f.type) for f in datas[0].schema]

    def test_rejects_carry_reasons(self, case: ContractCase) -> None:
        src = case.open()
        try:
            rejects = [r for b in src.read(ReadRequest(object=case.object_name, batch_rows=2)) for r in b.rejects]
        finally:
            src.close()
        assert all(isinstance(r, Reject) and r.reason and r.record for r in rejects)

    def test_cursor_returns_only_newer_rows(self, case: ContractCase) -> None:
        if case.cursor is None:
            pytest.skip("this case has no cursor column")
        src = case.open()
        try:
            req = ReadRequest(object=case.object_name, cursor_column=case.cursor.column, cursor=case.cursor)
            rows = sum(b.data.num_rows for b in src.read(req) if b.data is not None)
        finally:
            src.close()
        assert rows == case.rows_after_cursor

    def test_missing_object_is_a_clear_error(self, case: ContractCase) -> None:
        src = case.open()
        try:
            with pytest.raises(ObjectNotFoundError) as info:
                list(src.read(ReadRequest(object="no_such_object_xyz")))
        finally:
            src.close()
        assert "no_such_object_xyz" in str(info.value)

    def test_broken_options_fail_with_source_error(self, case: ContractCase) -> None:
        if case.broken_options is None:
            pytest.skip("no broken configuration for this case")
        src = open_source(case.kind, case.broken_options)
        try:
            with pytest.raises(SourceError):
                src.test()
        finally:
            src.close()


def run_all(case_factory: Callable[[], ContractCase]) -> None:  # pragma: no cover - helper for REPL use
    case_factory()
