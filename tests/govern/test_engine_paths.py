"""One path for a caller's SQL, two engines: the CLI (`urbanbrain sql --engine`), `POST /api/sql` (`engine`)
and the data APIs (`implementation.engine`) all run `govern.engine_choice.run_sql`, and on DuckDB and on Daft
an analyst of another department gets the same rows with the same masks and row filter. The attacks (a
closed field by alias, by `select *`, by subquery, files read by function, another department's table, a
row filter bypassed by OR or UNION, hostile parameter values) are refused or masked identically on both."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.capability.gateway_helpers import caller
from tests.govern.city import ANALYST_TRANSPORT, BENEFITS, RESIDENTS, City
from tests.govern.test_daft_engine import QUERIES
from urbanbrain.capability import catalog
from urbanbrain.capability.catalog import CapabilitySpec
from urbanbrain.cli.main import app
from urbanbrain.core.errors import AlreadyExistsError, QueryError, UrbanBrainError, ValidationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import binding, users
from urbanbrain.govern import classification as cls
from urbanbrain.govern.engine_choice import run_sql
from urbanbrain.govern.principals import ANALYST
from urbanbrain.meta.departments import add_department
from urbanbrain.web.app import create_app

ENGINES = ("duckdb", "daft")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def filtered(in_city: City) -> City:
    cls.set_row_filter(RESIDENTS, "transport", "district IN ('岳麓区', '天心区')")
    cls.set_field(RESIDENTS, "mobile", level="open", pii_type="mobile")
    return in_city


@pytest.fixture
def client(filtered: City) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def analyst(filtered: City) -> dict[str, str]:
    """Headers of a transport analyst signed in by personal token (the same view as ANALYST_TRANSPORT)."""
    with contextlib.suppress(AlreadyExistsError):
        add_department("Transport", "transport")
    with contextlib.suppress(AlreadyExistsError):
        users.add_user("ana.transport", PASSWORD, roles=[(ANALYST, "transport")])
    return {"Authorization": f"Bearer {users.create_token('ana.transport').token}"}


def _plain(rows: list[list[Any]]) -> list[list[Any]]:
    return json.loads(json.dumps(rows, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
                                 ensure_ascii=False))


def through_service(sql: str, engine: str) -> tuple[list[str], list[list[Any]]]:
    result = run_sql(sql, principal=ANALYST_TRANSPORT, engine=engine)
    return result.columns, _plain([list(r.values()) for r in result.table.to_pylist()])


def through_cli(sql: str, engine: str) -> tuple[list[str], list[list[Any]]]:
    out = CliRunner().invoke(app, ["--as", "analyst@transport", "sql", sql, "-f", "json", "--engine", engine])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    columns = list(got[0]) if got else []
    return columns, _plain([list(r.values()) for r in got])


def through_api(client: TestClient, headers: dict[str, str], sql: str, engine: str
                ) -> tuple[list[str], list[list[Any]]]:
    r = client.post("/api/sql", json={"sql": sql, "engine": engine}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["columns"], _plain(r.json()["rows"])


@pytest.mark.parametrize("sql", QUERIES)
def test_every_path_and_engine_gives_the_same_rows_and_masks(client: TestClient, analyst: dict[str, str],
                                                             filtered: City, sql: str) -> None:
    reference = through_service(sql, "duckdb")
    assert reference[1]
    for engine in ENGINES:
        assert through_service(sql, engine) == reference, engine
        assert through_api(client, analyst, sql, engine) == reference, engine
        cli_columns, cli_rows = through_cli(sql, engine)
        assert cli_rows == reference[1] and cli_columns == reference[0], engine
    seen = {str(v) for row in reference[1] for v in row}
    assert not seen & set(filtered.protected)


def test_csv_downloads_agree_across_engines(client: TestClient, analyst: dict[str, str]) -> None:
    sql = f"SELECT id, mobile, address FROM {RESIDENTS} ORDER BY id"
    bodies = [client.post("/api/sql", json={"sql": sql, "engine": e, "format": "csv"}, headers=analyst)
              for e in ENGINES]
    assert all(b.status_code == 200 for b in bodies), [b.text for b in bodies]
    assert bodies[0].text == bodies[1].text and bodies[0].text.count("\n") == 101  # header + 2 of 4 districts


def test_an_unknown_engine_is_a_clear_400(client: TestClient, analyst: dict[str, str]) -> None:
    r = client.post("/api/sql", json={"sql": f"SELECT 1 AS x FROM {RESIDENTS}", "engine": "spark"}, headers=analyst)
    assert r.status_code == 400, r.text
    assert "unknown engine 'spark'" in r.text and "auto, duckdb or daft" in r.text
    bad = CliRunner().invoke(app, ["sql", "SELECT 1", "--engine", "spark"])
    assert bad.exit_code != 0 and "auto, duckdb or daft" in bad.output


ATTACKS = [
    # a closed field under another name, or through a subquery
    f"SELECT r.id_number AS x FROM {RESIDENTS} r",
    f"SELECT x FROM (SELECT id_number AS x FROM {RESIDENTS}) AS s",
    f"SELECT (SELECT max(id_number) FROM {RESIDENTS}) AS x",
    f"SELECT id FROM {RESIDENTS} WHERE id_number LIKE '4301%'",
    # the stored files and anything else outside the datasets
    "SELECT * FROM read_parquet('**/police/hukou/residents/data/*.parquet')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_attacks_are_refused_on_both_engines(client: TestClient, analyst: dict[str, str], filtered: City,
                                             sql: str) -> None:
    for engine in ENGINES:
        with pytest.raises(UrbanBrainError) as raised:
            run_sql(sql, principal=ANALYST_TRANSPORT, engine=engine)
        assert not {v for v in filtered.protected if v in str(raised.value)}, engine
        r = client.post("/api/sql", json={"sql": sql, "engine": engine}, headers=analyst)
        assert r.status_code in (400, 403, 404), (engine, r.text)
        assert not {v for v in filtered.protected if v in r.text}, engine


MASKED_ALIKE = [
    f"SELECT * FROM {RESIDENTS} ORDER BY id",  # the closed and conditional columns do not exist
    f"SELECT r.*, r.address AS a2 FROM {RESIDENTS} r ORDER BY id",
    f"SELECT rid, id_number FROM {BENEFITS} ORDER BY rid",  # another department's table: keyed hash
    f"SELECT r.id, b.id_number FROM {RESIDENTS} r JOIN {BENEFITS} b ON r.id = b.rid ORDER BY r.id",
    # the row filter holds whatever the query adds to it
    f"SELECT count(*) AS n FROM {RESIDENTS} WHERE district = '芙蓉区' OR 1 = 1",
    f"SELECT district FROM (SELECT district FROM {RESIDENTS} WHERE false UNION SELECT district FROM {RESIDENTS}) "
    "AS u ORDER BY district",
    f"SELECT district, count(*) AS n FROM (SELECT district FROM {RESIDENTS} UNION ALL "
    f"SELECT district FROM police.hukou.residents) AS u GROUP BY district ORDER BY district",
    f"SELECT count(*) AS n FROM {RESIDENTS} WHERE district NOT IN ('岳麓区', '天心区') OR district IS NULL",
]


@pytest.mark.parametrize("sql", MASKED_ALIKE)
def test_what_is_shown_is_masked_and_filtered_alike(filtered: City, sql: str) -> None:
    duck, daft = (through_service(sql, e) for e in ENGINES)
    assert daft == duck
    seen = {str(v) for row in duck[1] for v in row}
    assert not seen & set(filtered.protected)
    assert "id_number" not in duck[0] or sql.find(BENEFITS) >= 0
    assert not seen & {"芙蓉区", "开福区"}


def test_order_or_limit_on_a_union_is_refused_by_daft_and_answered_by_duckdb_on_auto(
        filtered: City, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_QUERY_DAFT_ABOVE_BYTES", "1")  # auto would pick Daft
    get_settings.cache_clear()
    sql = f"SELECT district FROM {RESIDENTS} UNION ALL SELECT district FROM {RESIDENTS} ORDER BY 1 LIMIT 3"
    with pytest.raises(QueryError, match="UNION"):  # Daft would drop both and return 200 unordered rows
        run_sql(sql, principal=ANALYST_TRANSPORT, engine="daft")
    assert through_service(sql, "auto") == through_service(sql, "duckdb")
    assert through_service(sql, "duckdb")[1] == [["天心区"]] * 3


def test_the_row_filter_bounds_counts_on_both(filtered: City) -> None:
    for engine in ENGINES:
        _, got = through_service(f"SELECT count(*) AS n FROM {RESIDENTS} WHERE 1 = 1 OR district = '芙蓉区'", engine)
        assert got == [[100]], engine


HOSTILE = ["x' OR 1=1 --", "岳麓区' OR '1'='1", "' UNION SELECT id_number, district FROM police.hukou.residents --",
           "岳麓区'; SELECT 1; --", "$d", "岳麓区\\' OR 1=1 --", "') OR (('1'='1", "%", "岳麓区'/*", "*/ OR 1=1"]


def test_bound_parameters_are_values_on_both_engines(filtered: City) -> None:
    sql = f"SELECT id, district, address FROM {RESIDENTS} WHERE district = $d ORDER BY id"
    good = [run_sql(sql, principal=ANALYST_TRANSPORT, engine=e, params={"d": "岳麓区"}).table.to_pylist()
            for e in ENGINES]
    assert good[0] == good[1] and len(good[0]) == 50
    hidden = [run_sql(sql, principal=ANALYST_TRANSPORT, engine=e, params={"d": "芙蓉区"}).table.num_rows
              for e in ENGINES]
    assert hidden == [0, 0]  # a value cannot reach past the row filter
    for value in HOSTILE:
        for engine in ENGINES:
            got = run_sql(sql, principal=ANALYST_TRANSPORT, engine=engine, params={"d": value})
            assert got.table.num_rows == 0, (engine, value)


def test_literal_binding_refuses_what_is_not_one_value() -> None:
    assert binding.bind("SELECT $a, $b, $c, $d, $e", {"a": "it's", "b": -5, "c": 1.5, "d": None, "e": True}) \
        == "SELECT 'it''s', -5, 1.5, NULL, TRUE"
    # placeholders inside strings, quoted names and comments are text, not parameters
    assert binding.bind("SELECT '$a' AS \"$a\" -- $a\n, $a", {"a": 1}) == "SELECT '$a' AS \"$a\" -- $a\n, 1"
    for bad in ([1, 2], {"x": 1}, float("nan"), float("inf"), "a\x00b"):
        with pytest.raises(ValidationError):
            binding.literal(bad)
    with pytest.raises(ValidationError):
        binding.bind("SELECT $missing", {"other": 1})
    with pytest.raises(QueryError, match="structure"):  # the second guard, should the first ever slip
        binding.check_bound("SELECT * FROM t WHERE a = $a", "SELECT * FROM t WHERE a = 1 OR 1 = 1")
    with pytest.raises(QueryError, match="structure"):
        binding.check_bound("SELECT * FROM t WHERE a = $a", "SELECT * FROM t WHERE a = (SELECT max(b) FROM u)")


def _residents_api(name: str, engine: str) -> None:
    catalog.register_capability(CapabilitySpec(
        name=name, owner="police", kind="data_api",
        input_schema={"type": "object", "properties": {"district": {"type": "string"}}, "required": ["district"]},
        output_schema={"type": "array"},
        implementation={"sql": f"SELECT id, name, mobile, address FROM {RESIDENTS} WHERE district = $district "
                               "ORDER BY id", "engine": engine}))
    catalog.approve_capability(name, department="police")


def test_data_apis_answer_alike_on_both_engines(client: TestClient, filtered: City) -> None:
    answers: dict[str, list[Any]] = {}
    for engine in ENGINES:
        name = f"residents_by_district_{engine}"
        with contextlib.suppress(AlreadyExistsError):
            _residents_api(name, engine)
        app_ = caller(f"bus-{engine}", "transport", name)
        path = f"/capabilities/{name}/v1/invoke"
        r = client.post(path, json={"district": "岳麓区", "limit": 5, "offset": 2}, headers={"X-API-Key": app_.key})
        assert r.status_code == 200, r.text
        answers[engine] = r.json()["data"]
        for value in HOSTILE:
            r = client.post(path, json={"district": value}, headers={"X-API-Key": app_.key})
            assert r.status_code == 200 and r.json()["data"] == [], (engine, value, r.text)
        r = client.post(path, json={"district": "芙蓉区"}, headers={"X-API-Key": app_.key})  # the row filter
        assert r.status_code == 200 and r.json()["data"] == [], (engine, r.text)
    assert answers["duckdb"] == answers["daft"]
    got = answers["daft"]
    assert [r["id"] for r in got] == [8, 12, 16, 20, 24]
    # the capability grant opens the conditional field; what the owner publishes comes in clear (as on DuckDB)
    assert got[0]["name"] == filtered.names[8] and got[0]["mobile"] == filtered.mobiles[8]


def test_a_data_api_with_an_unknown_engine_is_refused_at_publish(filtered: City) -> None:
    with pytest.raises(ValidationError, match="unknown engine"):
        _residents_api("residents_spark", "spark")
