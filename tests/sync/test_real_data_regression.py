"""Real public files (tests/data) synced and compared, every row and every field, with an independent
reader (Python's csv module and the stdlib's own parsing); then rows appended at the cursor value
itself, the tie that a strict `>` loses and a plain `>=` doubles."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.sync.helpers import register, scalar
from urbanbrain.connect.coerce import DEFAULT_NULL_TOKENS
from urbanbrain.connect.files import object_name
from urbanbrain.connect.systems import configure_object, list_objects
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.sync.runner import run_sync


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _expected(text: str, lake_type: str, source_type: str) -> Any:
    """What the lake must hold for one CSV cell, by the stdlib alone."""
    if text.strip() in DEFAULT_NULL_TOKENS:
        return None
    text_s = text.strip()
    fmt = re.search(r"\[(.*)\]$", source_type)
    if lake_type == "int64":
        return int(text_s)
    if lake_type == "double":
        return float(text_s)
    if lake_type.startswith("date32"):
        return dt.datetime.strptime(text_s, fmt.group(1)).date() if fmt and "%" in fmt.group(1) \
            else dt.date.fromisoformat(text_s)
    if lake_type.startswith("timestamp"):
        if fmt and "%" in fmt.group(1):
            return dt.datetime.strptime(text_s, fmt.group(1))
        value = dt.datetime.fromisoformat(text_s.replace("Z", "+00:00"))
        return value.astimezone(dt.UTC) if value.tzinfo else value
    if lake_type == "bool":
        return text_s.lower() == "true"
    return text


def _canon(value: Any) -> Any:
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo else value


def _compare(system: str, obj: str, dataset: str, files: list[Path]) -> int:
    """Every row of the files equals a row of the dataset, field by field (as multisets)."""
    (info,) = [o for o in list_objects(system) if o.name == obj]
    columns = info.columns
    names = [c["name"] for c in columns]
    truth: Counter[tuple[Any, ...]] = Counter()
    for path in files:
        header, rows = _csv_rows(path)
        assert len(header) == len(columns)
        for row in rows:
            truth[tuple(_expected(v, c["type"], c["source_type"]) for v, c in zip(row, columns, strict=True))] += 1
    select = ", ".join(f'"{n}"' for n in names)
    got = run_query(f"select {select} from {dataset}", principal=SYSTEM).table.to_pylist()
    landed = Counter(tuple(_canon(r[n]) for n in names) for r in got)
    missing, extra = truth - landed, landed - truth
    assert not missing and not extra, (list(missing.items())[:3], list(extra.items())[:3])
    return sum(truth.values())


def test_baltimore_311_every_field_then_rows_appended_at_the_cursor_tie(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "311_sample.csv"
    shutil.copy(shared_data / "service-requests" / "311_sample.csv", path)
    register("b311", "files", {"path": str(path)}, dept="hotline")
    configure_object("b311", "t_311_sample", cursor_column="CreatedDate")
    first = run_sync("b311")
    assert first.status == "succeeded", first.error
    dataset = "hotline.b311.t_311_sample"
    assert first.rows_written == 6_000 and first.rows_rejected == 0
    assert _compare("b311", "t_311_sample", dataset, [path]) == 6_000

    header, rows = _csv_rows(path)
    at = header.index("CreatedDate")
    top = max(rows, key=lambda r: dt.datetime.strptime(r[at], "%m/%d/%Y %I:%M:%S %p"))
    later = (dt.datetime.strptime(top[at], "%m/%d/%Y %I:%M:%S %p") + dt.timedelta(hours=1))
    appended = []
    for i in range(100):
        row = list(top)
        row[header.index("SRRecordID")] = str(9_000_000 + i)
        row[header.index("ServiceRequestNum")] = f"19-9{i:07d}"
        if i >= 50:
            row[at] = later.strftime("%m/%d/%Y %I:%M:%S %p")
        appended.append(row)
    appended += [list(top), list(top)]  # two exact copies of a row already synced at the tie: new rows too
    with path.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(appended)

    second = run_sync("b311")
    assert second.status == "succeeded", second.error
    assert second.rows_written == 102 and second.rows_read == 102
    assert _compare("b311", "t_311_sample", dataset, [path]) == 6_102
    third = run_sync("b311")  # nothing new: nothing doubled
    assert third.rows_written == 0
    assert scalar(f"select count(*) c from {dataset}")["c"] == 6_102


def test_openaq_every_field_matches_and_late_rows_at_the_cursor_are_kept(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "openaq"
    shutil.copytree(shared_data / "air-quality" / "openaq-toronto", folder)
    files = sorted(folder.glob("*.csv"))
    register("aq", "files", {"path": str(folder / "*.csv")}, dept="ecology")
    name = "openaq_location_7570_measurments"
    configure_object("aq", name, cursor_column="datetimeUtc")
    run = run_sync("aq")
    assert run.status == "succeeded", run.error
    total = 0
    types = set()
    for obj, path in zip(sorted(o.name for o in list_objects("aq")), files, strict=True):
        total += _compare("aq", obj, f"ecology.aq.{obj}", [path])
        types.add(tuple((c["name"], c["type"]) for c in next(o for o in list_objects("aq") if o.name == obj).columns))
    assert total == run.rows_written == 6_552
    assert len(types) == 1  # fifteen files with one header: one schema

    target = folder / f"{name}.csv"
    header, rows = _csv_rows(target)
    at = header.index("datetimeUtc")
    newest = max(rows, key=lambda r: r[at])
    newest[header.index("parameter")] += "_late"  # another reading at the newest hour, exported late
    with target.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerow(newest)
    again = run_sync("aq", objects=[name])
    assert again.rows_written == 1, again
    _compare("aq", name, f"ecology.aq.{name}", [target])


def test_beijing_like_na_tokens_are_nulls_and_station_files_share_one_schema(shared_data: Path) -> None:
    folder = shared_data / "air-quality" / "beijing-like"
    register("prsa", "files", {"path": str(folder)}, dept="ecology")
    run = run_sync("prsa")
    assert run.status == "succeeded", run.error
    assert run.rows_rejected == 0 and run.rows_written == 900
    objects = list_objects("prsa")
    schemas = {tuple((c["name"], c["type"]) for c in o.columns) for o in objects}
    assert len(schemas) == 1
    types = dict(next(iter(schemas)))
    assert types["PM2.5"] == "double" and types["CO"] == "double" and types["wd"] == "string"
    files = {object_name(p.stem): p for p in folder.glob("*.csv")}
    for obj in objects:
        _compare("prsa", obj.name, f"ecology.prsa.{obj.name}", [files[obj.name]])
    union = " union all ".join(f'select "PM2.5" p from ecology.prsa.{o.name}' for o in objects)
    row = scalar(f"select avg(p) a, count(*) - count(p) missing from ({union})")
    assert row["missing"] == 3 + 4 and row["a"] > 0


def test_gtfs_keys_and_yyyymmdd_dates(shared_data: Path) -> None:
    folder = shared_data / "gtfs" / "caltrain-2017-07-24"
    register("caltrain", "files", {"path": str(folder / "*.txt"), "format": "csv"}, dept="transit")
    run = run_sync("caltrain")
    assert run.status == "succeeded", run.error
    by_name = {o.name: o for o in list_objects("caltrain")}
    types = {(o, c["name"]): c["type"] for o, obj in by_name.items() for c in obj.columns}
    assert types[("calendar", "start_date")] == "date32[day]"
    assert types[("calendar_dates", "date")] == "date32[day]"
    assert types[("stops", "stop_id")] == types[("stop_times", "stop_id")]
    for obj in ("stops", "calendar", "calendar_dates", "trips", "stop_times"):
        _compare("caltrain", obj, f"transit.caltrain.{obj}", [folder / f"{obj}.txt"])
    joined = scalar("select count(*) c from transit.caltrain.stop_times t join transit.caltrain.stops s "
                    "on s.stop_id = t.stop_id")
    assert joined["c"] == 2_697


@pytest.mark.parametrize("tokens", [["-999"], {"*": ["-999"]}])
def test_null_values_are_configurable(tmp_path: Path, tokens: Any) -> None:
    path = tmp_path / "levels.csv"
    path.write_text("id,level,note\n1,3.5,ok\n2,-999,NA\n3,4,-\n")
    register("levels", "files", {"path": str(path), "null_values": tokens}, dept="water")
    run_sync("levels")
    rows = run_query("select id, level, note from water.levels.levels order by id", principal=SYSTEM).table.to_pylist()
    assert [r["level"] for r in rows] == [3.5, None, 4.0]
    assert [r["note"] for r in rows] == ["ok", "NA", "-"]  # only the configured tokens (and '') are nulls
