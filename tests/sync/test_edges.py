"""Counts, names and hints that are true: nothing committed means 0 rows written; errors name the
system; `system add` checks what it can at once; REST and files agree that '' is null; hints name the
glob and the dataset spelling that work; a cursor an API cannot honour at a tie is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connect.rest_server import Reply, RestServer, Seen
from tests.sync.helpers import register, scalar
from urbanbrain.connect.files import FileSource
from urbanbrain.connect.systems import add_system, configure_object
from urbanbrain.core.errors import (
    ConfigurationError,
    ObjectNotFoundError,
    QueryError,
    UrbanBrainError,
    ValidationError,
)
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.runner import run_sync

ROWS = [{"id": i, "name": f"firm {i}", "note": "" if i % 2 else "ok",
         "updated_at": f"2024-01-{1 + i // 4:02d}T00:00:00"} for i in range(30)]


def _paged(fail_on: int | None) -> object:
    def route(seen: Seen) -> Reply:
        page = int(seen.query.get("page", 1))
        if page == fail_on:
            return Reply(500, {"error": "database is down"})
        since = seen.query.get("since")
        rows = [r for r in ROWS if since is None or r["updated_at"] >= since]
        return Reply(body=rows[(page - 1) * 3: page * 3])

    return route


@pytest.fixture
def api() -> Iterator[RestServer]:
    with RestServer() as srv:
        srv.route("/firms", _paged(None))  # type: ignore[arg-type]
        srv.route("/firms-500", _paged(7))  # type: ignore[arg-type]
        yield srv


def _endpoint(path: str, **extra: object) -> dict[str, object]:
    return {"name": "firms", "path": path, "pagination": {"type": "page", "size": 3}, **extra}


def test_a_500_on_page_7_commits_nothing_and_says_0_rows_under_the_systems_name(api: RestServer) -> None:
    register("firm-api", "rest", {"url": api.url, "endpoints": [_endpoint("/firms-500")]}, dept="civil")
    run = run_sync("firm-api")
    assert run.status == "failed"
    assert run.rows_written == 0 and run.objects[0].rows_written == 0
    assert "system=firm-api" in (run.error or "") and f"system={api.url}" not in (run.error or "")


def test_rest_and_files_agree_that_an_empty_string_is_null(api: RestServer, tmp_path: Path) -> None:
    register("firm-api", "rest", {"url": api.url, "endpoints": [_endpoint("/firms")]}, dept="civil")
    path = tmp_path / "firms.csv"
    path.write_text("id,note\n" + "".join(f"{r['id']},{r['note']}\n" for r in ROWS))
    register("firm-files", "files", {"path": str(path)}, dept="civil")
    assert run_sync("firm-api").status == "succeeded" and run_sync("firm-files").status == "succeeded"
    for name in ("civil.firm_api.firms", "civil.firm_files.firms"):
        assert scalar(f"select count(*) - count(note) missing, count(*) filter (where note = '') empty "
                      f"from {name}") == {"missing": 15, "empty": 0}


def test_rest_cursor_ties_are_neither_lost_nor_doubled_and_a_strict_api_is_refused(api: RestServer) -> None:
    register("firm-api", "rest", {"url": api.url, "endpoints": [_endpoint("/firms", cursor_param="since")]},
             dept="civil")
    configure_object("firm-api", "firms", cursor_column="updated_at")
    assert run_sync("firm-api").rows_written == 30
    top = ROWS[-1]["updated_at"]
    ROWS.append({"id": 30, "name": "late firm", "note": "ok", "updated_at": top})  # same value as the cursor
    try:
        again = run_sync("firm-api")
        assert again.status == "succeeded" and again.rows_written == 1
        assert scalar("select count(*) c, count(distinct id) d from civil.firm_api.firms") == {"c": 31, "d": 31}
    finally:
        ROWS.pop()
    from urbanbrain.connect.systems import update_system

    update_system("firm-api", options={"endpoints": [_endpoint("/firms", cursor_param="since",
                                                               cursor_param_after=True)]})
    refused = run_sync("firm-api")
    assert refused.status == "failed" and "strictly after" in (refused.error or "")
    with pytest.raises(ValidationError, match="strictly after"):
        configure_object("firm-api", "firms", cursor_column="updated_at")


def _dept() -> None:
    add_department("Planning", "geo")


def test_system_add_checks_path_url_and_host_at_once(tmp_path: Path) -> None:
    _dept()
    with pytest.raises(UrbanBrainError, match="does not exist"):
        add_system("parcels", "geo", "files", {"path": str(tmp_path / "nope.csv")})
    with pytest.raises(ConfigurationError, match="not a postgres URL") as bad:
        add_system("gis-db", "geo", "postgres", {"url": "not-a-url"})
    assert "postgresql://" in (bad.value.hint or "")
    with pytest.raises(UrbanBrainError, match="does not resolve"):
        add_system("gis-db", "geo", "postgres", {"url": "postgresql://u:secret@gis.invalid:5432/gis"})
    (tmp_path / "parcels.csv").write_text("id\n1\n")
    added = add_system("parcels", "geo", "files", {"path": str(tmp_path / "parcels.csv")})
    assert added.checks == [f"file {tmp_path / 'parcels.csv'} exists"]
    api = add_system("permits-api", "geo", "rest", {"url": "http://127.0.0.1:9/api"})
    assert api.checks == ["URL parses", "host 127.0.0.1 resolves"]


def test_a_folder_of_txt_csv_files_gets_the_glob_that_works(shared_data: Path) -> None:
    folder = shared_data / "gtfs" / "israel-public-transportation-route-2126"
    with pytest.raises(ObjectNotFoundError) as err:
        FileSource({"path": str(folder)}).discover()
    assert f"path='{folder / '*.txt'}'" in (err.value.hint or "") and "format='csv'" in (err.value.hint or "")
    objects = FileSource({"path": str(folder / "*.txt"), "format": "csv"}).discover()
    assert {o.name for o in objects} >= {"stops", "stop_times", "trips"}


def test_a_mistyped_dataset_name_gets_the_normalised_one(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text("id,name\n1,a\n")
    register("cs-geo", "files", {"path": str(path)}, dept="geo")
    run_sync("cs-geo")
    with pytest.raises(UrbanBrainError) as two:
        run_query('select * from geo."cs-geo"', principal=SYSTEM)
    assert "geo.cs_geo.stations" in (two.value.hint or "")
    with pytest.raises(QueryError) as three:
        run_query('select * from geo."cs-geo".stations', principal=SYSTEM)
    assert "did you mean geo.cs_geo.stations?" in (three.value.hint or "")


def test_a_later_value_widens_the_lake_column_instead_of_failing_or_quarantining(tmp_path: Path) -> None:
    path = tmp_path / "meters.csv"
    path.write_text("seq,reading,code,day\n" + "".join(f"{i},{i * 10},{i},2024-01-0{1 + i % 5}\n"
                                                       for i in range(1, 21)))
    register("meters", "files", {"path": str(path)}, dept="water")
    configure_object("meters", "meters", cursor_column="seq")
    assert run_sync("meters").rows_written == 20
    with path.open("a") as fh:  # a decimal reading, a code that is not a number, a timestamp for a day
        fh.write("21,212.5,A-7,2024-01-06 08:30:00\n22,220,22,2024-01-07\n")
    run = run_sync("meters")
    assert run.status == "succeeded" and run.rows_written == 2 and run.rows_rejected == 0
    rows = run_query("select seq, reading, code, day from water.meters.meters order by seq",
                     principal=SYSTEM).table
    assert str(rows.schema.field("reading").type) == "double" and str(rows.schema.field("code").type) == "string"
    assert str(rows.schema.field("day").type) == "string"  # a date, then a date and time: both kept as text
    values = rows.to_pylist()
    assert len(values) == 22 and values[0]["reading"] == 10.0 and values[0]["code"] == "1"
    assert values[20]["reading"] == 212.5 and values[20]["code"] == "A-7"
    assert values[1]["day"] == "2024-01-03" and values[20]["day"] == "2024-01-06 08:30:00"
    path.write_text("seq,reading,code,day\n" + "".join(f"{i},{i},{i},2024-02-01\n" for i in range(23, 25)))
    narrower = run_sync("meters")  # today's file is all integers again: the wider columns take them
    assert narrower.status == "succeeded" and narrower.rows_written == 2
    assert scalar("select count(*) c from water.meters.meters where code = '24'")["c"] == 1
