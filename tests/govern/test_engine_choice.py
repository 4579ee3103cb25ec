"""`--engine auto`: a query whose datasets hold `query_daft_above_bytes` or more runs on Daft, a smaller one on
DuckDB, and either way an analyst of another department gets the same rows with the same masks and row
filter; what Daft must not run or cannot express stays on DuckDB's answer (or refusal)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.govern.city import ANALYST_TRANSPORT, BENEFITS, RESIDENTS, City
from tests.govern.test_daft_engine import QUERIES, rows
from urbanbrain.cli.main import app
from urbanbrain.core.errors import ReadOnlyViolationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import classification as cls
from urbanbrain.govern.engine_choice import choose_engine, run_sql, scanned_bytes
from urbanbrain.govern.query import run_query


@pytest.fixture
def filtered(in_city: City) -> City:
    cls.set_row_filter(RESIDENTS, "transport", "district IN ('岳麓区', '天心区')")
    cls.set_field(RESIDENTS, "mobile", level="open", pii_type="mobile")
    return in_city


def _threshold(monkeypatch: pytest.MonkeyPatch, value: int) -> None:
    monkeypatch.setenv("URBANBRAIN_QUERY_DAFT_ABOVE_BYTES", str(value))
    get_settings.cache_clear()


def test_daft_is_chosen_at_the_threshold_and_not_below(filtered: City, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = f"SELECT district, count(*) AS n FROM {RESIDENTS} GROUP BY 1"
    size = scanned_bytes([tuple(RESIDENTS.split("."))])
    assert size > 0
    assert choose_engine(sql) == "duckdb"  # 0: never on its own
    _threshold(monkeypatch, size)
    assert choose_engine(sql) == "daft"
    assert choose_engine(f"SELECT * FROM {RESIDENTS} r JOIN {BENEFITS} b ON r.id = b.rid") == "daft"  # sizes add up
    assert choose_engine(sql, "duckdb") == "duckdb"  # chosen outright
    _threshold(monkeypatch, size + 1)
    assert choose_engine(sql) == "duckdb"
    assert choose_engine(sql, "daft") == "daft"


@pytest.mark.parametrize("sql", QUERIES[:3])
def test_auto_above_the_threshold_gives_duckdbs_rows_and_masks(filtered: City, monkeypatch: pytest.MonkeyPatch,
                                                                 sql: str) -> None:
    _threshold(monkeypatch, 1)
    assert choose_engine(sql) == "daft"
    auto = run_sql(sql, principal=ANALYST_TRANSPORT)
    duck = run_query(sql, principal=ANALYST_TRANSPORT)
    assert auto.columns == duck.columns and rows(auto) == rows(duck)
    seen = {str(v) for r in auto.table.to_pylist() for v in r.values()}
    assert not seen & set(filtered.protected)  # the masks and the closed columns hold on Daft too


def test_what_daft_refuses_or_cannot_express_stays_on_duckdb(filtered: City, monkeypatch: pytest.MonkeyPatch) -> None:
    _threshold(monkeypatch, 1)
    qualify = (f"SELECT id, district, row_number() OVER (PARTITION BY district ORDER BY id) AS k FROM {RESIDENTS} "
               "QUALIFY k = 1")
    assert rows(run_sql(qualify, principal=ANALYST_TRANSPORT)) == rows(run_query(qualify, principal=ANALYST_TRANSPORT))
    outside = f"SELECT getenv('HOME') AS h FROM {RESIDENTS}"
    assert choose_engine(outside) == "duckdb"
    with pytest.raises(ReadOnlyViolationError):  # and DuckDB's own checks refuse it
        run_sql(outside, principal=ANALYST_TRANSPORT)


def test_the_sql_command_chooses_by_size(filtered: City, monkeypatch: pytest.MonkeyPatch) -> None:
    _threshold(monkeypatch, 1)
    result = CliRunner().invoke(app, ["sql", f"SELECT count(*) AS n FROM {RESIDENTS}", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["n"] == 200
    bad = CliRunner().invoke(app, ["sql", "SELECT 1", "--engine", "spark"])
    assert bad.exit_code != 0 and "auto, duckdb or daft" in bad.output
