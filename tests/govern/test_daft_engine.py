"""`urbanbrain sql --engine daft`: the same SQL as an analyst of another department gives the same rows and
the same masks on Daft as on DuckDB (a closed column, partially masked and hashed columns, a row filter),
and what Daft cannot or must not run is refused with a message naming it."""

from __future__ import annotations

import pytest

from tests.govern.city import ANALYST_TRANSPORT, BENEFITS, RESIDENTS, City
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError, UrbanBrainError
from urbanbrain.govern import classification as cls
from urbanbrain.govern.daft_query import run_daft_query
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query

QUERIES = [
    f"SELECT * FROM {RESIDENTS} ORDER BY id",
    f"SELECT district, count(*) AS n, avg(age) AS mean_age FROM {RESIDENTS} GROUP BY district ORDER BY district",
    f"SELECT r.id, r.address, b.benefit FROM {RESIDENTS} r JOIN {BENEFITS} b ON r.id = b.rid "
    "WHERE r.age > 30 ORDER BY r.id",
    f"SELECT id_number, amount FROM {BENEFITS} ORDER BY rid LIMIT 7",
]


@pytest.fixture
def filtered(in_city: City) -> City:
    cls.set_row_filter(RESIDENTS, "transport", "district IN ('岳麓区', '天心区')")
    cls.set_field(RESIDENTS, "mobile", level="open", pii_type="mobile")  # shown, partially masked
    return in_city


def rows(result: object) -> list[tuple[object, ...]]:
    table = result.table  # type: ignore[attr-defined]
    return [tuple(r.values()) for r in table.to_pylist()]


@pytest.mark.parametrize("sql", QUERIES)
def test_daft_and_duckdb_agree_under_the_policy(filtered: City, sql: str) -> None:
    duck = run_query(sql, principal=ANALYST_TRANSPORT)
    daft = run_daft_query(sql, principal=ANALYST_TRANSPORT)
    assert daft.columns == duck.columns
    assert rows(daft) == rows(duck)
    assert [p.dataset for p in daft.policies or []] != []


def test_the_analysts_view_is_masked_filtered_and_closed_on_daft(filtered: City) -> None:
    result = run_daft_query(f"SELECT * FROM {RESIDENTS} ORDER BY id", principal=ANALYST_TRANSPORT)
    assert "id_number" not in result.columns and "name" not in result.columns  # closed; conditional, no grant
    got = result.table.to_pylist()
    assert got and {r["district"] for r in got} == {"岳麓区", "天心区"}  # the row filter
    assert all(r["address"].endswith("****") for r in got)
    assert all(r["mobile"][:3] == "138" and r["mobile"][3:7] == "****" for r in got)
    seen = {str(v) for r in got for v in r.values()}
    assert not seen & set(filtered.protected)
    owner = run_daft_query(f"SELECT count(*) AS n, max(id_number) AS m FROM {RESIDENTS}", principal=SYSTEM)
    assert owner.table.to_pylist()[0]["n"] == 200 and owner.table.to_pylist()[0]["m"] in filtered.ids


def test_a_hidden_column_does_not_exist_on_daft_either(filtered: City) -> None:
    with pytest.raises(UrbanBrainError):
        run_daft_query(f"SELECT id_number FROM {RESIDENTS}", principal=ANALYST_TRANSPORT)


@pytest.mark.parametrize("sql, named", [
    ("SELECT url_download('file:///etc/passwd') AS x", "url_download"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    (f"SELECT getenv('HOME') FROM {RESIDENTS}", "getenv"),
])
def test_what_reaches_outside_the_lake_is_refused(filtered: City, sql: str, named: str) -> None:
    with pytest.raises(ReadOnlyViolationError, match=named):
        run_daft_query(sql, principal=ANALYST_TRANSPORT)


def test_a_construct_daft_cannot_express_is_named(filtered: City) -> None:
    sql = (f"SELECT id, district, row_number() OVER (PARTITION BY district ORDER BY id) AS k FROM {RESIDENTS} "
           "QUALIFY k = 1")
    assert len(run_query(sql, principal=ANALYST_TRANSPORT).table) == 2  # DuckDB can
    with pytest.raises(QueryError, match="QUALIFY") as raised:
        run_daft_query(sql, principal=ANALYST_TRANSPORT)
    assert "DuckDB" in (raised.value.hint or "")


def test_the_cli_runs_sql_on_daft(filtered: City) -> None:
    import json

    from typer.testing import CliRunner

    from urbanbrain.cli.main import app

    sql = f"SELECT district, count(*) AS n FROM {RESIDENTS} GROUP BY district ORDER BY district"
    done = CliRunner().invoke(app, ["sql", "--engine", "daft", "-f", "json", sql])
    assert done.exit_code == 0, done.output
    districts = sorted(["岳麓区", "天心区", "芙蓉区", "开福区"])
    assert json.loads(done.output) == [{"district": d, "n": 50} for d in districts]
    wrong = CliRunner().invoke(app, ["sql", "--engine", "spark", sql])
    assert wrong.exit_code != 0 and "duckdb or daft" in wrong.output
