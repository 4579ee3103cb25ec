"""The files connector: the shared contract for every format, then quarantine, encodings, real data."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.connect.contract import ContractCase, SourceContract
from urbanbrain.connect import file_formats
from urbanbrain.connect.base import Batch, Cursor, ReadRequest, Reject
from urbanbrain.connect.files import FileSource, object_name
from urbanbrain.core.errors import (
    ConfigurationError,
    ObjectNotFoundError,
    SourceError,
    SourceFormatError,
)

ROWS = [(i, f"name {i}", f"2024-01-0{i} 08:00:00") for i in range(1, 6)]
CN_ROWS = [(i, f"北京市第{i}街道", f"2024-01-0{i} 08:00:00") for i in range(1, 6)]
CURSOR = Cursor("updated_at", "2024-01-03 08:00:00", "TIMESTAMP")


def _csv_text(header: list[str], rows: Sequence[tuple[object, ...]], delimiter: str = ",") -> str:
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in r) for r in rows]
    return "\n".join(lines) + "\n"


def _case(tmp: Path, options: dict[str, object], name: str, id_column: str = "id", **kw: object) -> ContractCase:
    cursor = kw.pop("cursor", CURSOR)
    return ContractCase(
        kind="files",
        options=options,
        object_name=name,
        expected_rows=5,
        id_column=id_column,
        cursor_column=cursor.column if isinstance(cursor, Cursor) else None,
        cursor=cursor if isinstance(cursor, Cursor) else None,
        rows_after_cursor=2,
        broken_options={"path": str(tmp / "missing" / "*.csv")},
    )


def case_csv(tmp: Path) -> ContractCase:
    (tmp / "people.csv").write_text(_csv_text(["id", "name", "updated_at"], ROWS))
    return _case(tmp, {"path": str(tmp / "*.csv")}, "people")


def case_gbk_csv(tmp: Path) -> ContractCase:
    path = tmp / "街道人口.csv"
    path.write_bytes(_csv_text(["编号", "名称", "更新时间"], CN_ROWS).encode("gbk"))
    cursor = Cursor("更新时间", "2024-01-03 08:00:00", "TIMESTAMP")
    return _case(tmp, {"path": str(path)}, object_name("街道人口"), id_column="编号", cursor=cursor)


def case_bom_csv(tmp: Path) -> ContractCase:
    path = tmp / "Permits-2024.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv_text(["id", "name", "updated_at"], ROWS, ";").encode())
    return _case(tmp, {"path": str(tmp)}, "permits_2024")


def case_xlsx(tmp: Path) -> ContractCase:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "data"
    ws.append(["id", "name", "updated_at"])
    for i, name, ts in ROWS:
        ws.append([i, name, ts])
    wb.create_sheet("notes").append(["note"])
    wb.save(tmp / "people.xlsx")
    return _case(tmp, {"path": str(tmp / "people.xlsx")}, "people_data")


def case_json(tmp: Path) -> ContractCase:
    doc = {
        "meta": {"total": 5},
        "data": {"items": [dict(zip(["id", "name", "updated_at"], r, strict=True)) for r in ROWS]},
    }
    (tmp / "api_dump.json").write_text(json.dumps(doc))
    return _case(tmp, {"path": str(tmp / "api_dump.json"), "records_path": "data.items"}, "api_dump")


def case_ndjson(tmp: Path) -> ContractCase:
    lines = [json.dumps(dict(zip(["id", "name", "updated_at"], r, strict=True))) for r in ROWS]
    (tmp / "events.jsonl").write_text("\n".join(lines) + "\n")
    return _case(tmp, {"path": str(tmp / "events.jsonl")}, "events")


def case_parquet(tmp: Path) -> ContractCase:
    table = pa.table(
        {
            "id": [r[0] for r in ROWS],
            "name": [r[1] for r in ROWS],
            "updated_at": pa.array([r[2] for r in ROWS]).cast(pa.timestamp("us")),
        }
    )
    pq.write_table(table, tmp / "sensors.parquet")
    return _case(tmp, {"path": str(tmp / "sensors.parquet"), "format": "parquet"}, "sensors")


CASES: dict[str, Callable[[Path], ContractCase]] = {
    "csv": case_csv,
    "gbk_csv": case_gbk_csv,
    "bom_semicolon_csv": case_bom_csv,
    "xlsx": case_xlsx,
    "json": case_json,
    "ndjson": case_ndjson,
    "parquet": case_parquet,
}


class TestFilesContract(SourceContract):
    @pytest.fixture(params=list(CASES))
    def case(self, request: pytest.FixtureRequest, tmp_path: Path) -> ContractCase:
        return CASES[request.param](tmp_path)


# --- helpers -----------------------------------------------------------------------------------


def read_all(options: dict[str, object], obj: str, **kw: object) -> tuple[pa.Table | None, list[Reject]]:
    src = FileSource(options)
    try:
        batches: list[Batch] = list(src.read(ReadRequest(object=obj, **kw)))  # type: ignore[arg-type]
    finally:
        src.close()
    datas = [b.data for b in batches if b.data is not None]
    rejects = [r for b in batches for r in b.rejects]
    return (pa.Table.from_batches(datas) if datas else None), rejects


def count_records(path: Path, encoding: str = "utf-8") -> int:
    """The truth: data records as Python's csv module sees them (multi-line fields count once)."""
    with path.open(newline="", encoding=encoding) as fh:
        return sum(1 for row in csv.reader(fh) if row) - 1


# --- quarantine: nothing is silently dropped ----------------------------------------------------


def test_a_late_value_widens_the_column_instead_of_quarantining_its_row(tmp_path: Path) -> None:
    """Types come from every row: a value at row 11,001 that is not a number makes the column text
    (no valid row quarantined), an impossible date keeps its column text; only a broken line is a reject."""
    n = 12_000
    rows = [f"{i},{i * 10},2024-01-01,{i / 4}" for i in range(1, n + 1)]
    rows[11_000] = "11001,abc,2024-01-01,NA"  # past any first-rows sample; NA is a missing value
    rows[11_500] = "11501,5,2024-02-30,N/A"  # no such date
    rows.insert(5_000, "broken,line")  # wrong field count
    path = tmp_path / "big.csv"
    path.write_text("id,amount,day,reading\n" + "\n".join(rows) + "\n")
    truth = count_records(path)
    table, rejects = read_all({"path": str(path)}, "big", batch_rows=1000)
    assert table is not None
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("amount").type == pa.string()
    assert table.schema.field("day").type == pa.string()
    assert table.schema.field("reading").type == pa.float64()
    assert table.num_rows == n and len(rejects) == 1 and truth == n + 1
    (broken,) = rejects
    assert broken.reason.startswith("line 5002: expected 4 fields, found 2") and broken.record == "broken,line"
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id[11001]["amount"] == "abc" and by_id[11001]["reading"] is None
    assert by_id[11501]["day"] == "2024-02-30" and by_id[11501]["reading"] is None
    assert by_id[12000]["reading"] == 3000.0


def test_malformed_lines_and_conversion_failures_add_up(tmp_path: Path) -> None:
    good = "".join(f"{i},{i * 10},ok\n" for i in range(1, 40))
    path = tmp_path / "ledger.csv"
    path.write_text("id,amount,note\n" + good + '40,40,"multi\nline"\n41,41\n42,42,a,b\n43,x1,bad\n44,44,ok\n')
    truth = count_records(path)
    table, rejects = read_all({"path": str(path)}, "ledger", batch_rows=7)
    assert table is not None
    assert table.num_rows + len(rejects) == truth == 44
    # 'x1' is in the inference sample, so amount stays text (lossless) rather than quarantining it
    assert table.schema.field("amount").type == pa.string()
    assert [r.reason for r in rejects] == [
        "line 43: expected 3 fields, found 2",  # physical lines: the quoted newline counts
        "line 44: expected 3 fields, found 4",
    ]
    assert [r.record for r in rejects] == ["41,41", "42,42,a,b"]
    assert table.column("note").to_pylist()[39] == "multi\nline"


# --- types --------------------------------------------------------------------------------------


def test_type_inference(tmp_path: Path) -> None:
    path = tmp_path / "types.csv"
    path.write_text(
        "zip,phone_id,flag,ratio,d,created,closed,local,text,empty\n"
        "02134,110101199003071234,true,1.5,2024/01/02,04/12/2018 11:11:26 AM,2024-01-02T03:04:05,"
        "2025-08-31T21:00:00-04:00,a,\n"
        "10001,110101199003075678,FALSE, 2 ,2024/1/3,04/12/2018 01:11:26 PM,2024-01-02 03:04:05.5,"
        "2025-09-01T01:00:00Z,b,\n"
    )
    src = FileSource({"path": str(path)})
    (obj,) = src.discover()
    types = {c.name: c.type for c in obj.columns}
    assert types == {
        "zip": pa.string(),  # leading zero: a code, not a number
        "phone_id": pa.string(),  # 18 digits: an identifier
        "flag": pa.bool_(),
        "ratio": pa.float64(),
        "d": pa.date32(),
        "created": pa.timestamp("us"),
        "closed": pa.timestamp("us"),
        "local": pa.timestamp("us", tz="UTC"),
        "text": pa.string(),
        "empty": pa.string(),
    }
    assert set(obj.cursor_candidates) == {"d", "created", "closed", "local"}
    table, rejects = read_all({"path": str(path)}, "types")
    assert not rejects and table is not None
    row = table.to_pylist()[1]
    assert row["created"].hour == 13 and row["ratio"] == 2.0 and row["flag"] is False and row["empty"] is None
    assert row["local"].isoformat() == "2025-09-01T01:00:00+00:00"


def test_headers_chinese_duplicate_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("姓名,,name,Name,\n张三,1,a,b,c\n")
    src = FileSource({"path": str(path)})
    (obj,) = src.discover()
    assert [c.name for c in obj.columns] == ["姓名", "column", "name", "Name_2", "column_2"]


# --- encodings -----------------------------------------------------------------------------------


def test_gbk_is_detected_and_decoded(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(_csv_text(["编号", "名称"], [(1, "长沙市岳麓区"), (2, "芙蓉区")]).encode("gbk"))
    table, rejects = read_all({"path": str(path)}, "gbk")
    assert table is not None and not rejects
    assert table.column("名称").to_pylist() == ["长沙市岳麓区", "芙蓉区"]


def _utf8_error_offset(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    raise AssertionError("valid UTF-8")


def test_wrong_explicit_encoding_names_file_encoding_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    data = _csv_text(["id", "name"], [(1, "abc"), (2, "芙蓉区")]).encode("gbk")
    path.write_bytes(data)
    src = FileSource({"path": str(path), "encoding": "utf-8"})
    with pytest.raises(SourceFormatError) as info:
        src.discover()
    offset = _utf8_error_offset(data)
    message = str(info.value)
    assert str(path) in message and "utf-8" in message and f"byte offset {offset}" in message
    assert "encoding" in (info.value.hint or "")


def test_invalid_bytes_past_the_detection_sample(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "".join(f"{i},{'x' * 100}\n" for i in range(15_000)).encode()  # > 1 MB of clean UTF-8
    path.write_bytes(b"id,text\n" + body + b"15000," + "芙蓉".encode("gbk") + b"\n")
    with pytest.raises(SourceFormatError) as info:
        read_all({"path": str(path)}, "late")
    assert f"byte offset {_utf8_error_offset(path.read_bytes())}" in str(info.value)
    assert _utf8_error_offset(path.read_bytes()) > 1 << 20


# --- json / ndjson -------------------------------------------------------------------------------


def test_ndjson_bad_lines_late_keys_and_nested_values(tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "tags": ["a", "b"], "geo": {"lat": 1.5}}) for i in range(1, 5)]
    lines.insert(2, "{not json")
    lines.append("")
    lines.append(json.dumps([1, 2]))
    lines.append(json.dumps({"id": 99, "late_key": "年"}, ensure_ascii=False))
    path = tmp_path / "feed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    table, rejects = read_all({"path": str(path)}, "feed", batch_rows=2)
    assert table is not None
    assert table.column_names == ["id", "tags", "geo", "late_key"]
    assert table.num_rows == 5 and len(rejects) == 2
    assert [r.reason.split(":")[0] for r in rejects] == ["line 3", "line 7"]
    assert table.column("tags").to_pylist()[0] == '["a", "b"]'
    assert table.column("late_key").to_pylist()[-1] == "年"


def test_json_default_records_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"count": 2, "rows": [{"a": 1}, {"a": 2, "b": None}, "oops"]}))
    table, rejects = read_all({"path": str(path)}, "doc")
    assert table is not None and table.num_rows == 2 and len(rejects) == 1
    with pytest.raises(SourceFormatError, match=r"no 'data\.items'"):
        FileSource({"path": str(path), "records_path": "data.items"}).discover()
    monkeypatch.setattr(file_formats, "MAX_JSON_BYTES", 10)
    with pytest.raises(SourceFormatError, match="too large") as info:
        FileSource({"path": str(path)}).discover()
    assert "ndjson" in (info.value.hint or "").lower()


# --- xlsx ----------------------------------------------------------------------------------------


def test_xlsx_sheets_and_quarantine(tmp_path: Path) -> None:
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"
    ws.append(["编号", "日期", "金额"])
    for i in range(1, 30):
        ws.append([i, dt.date(2024, 1, 1) + dt.timedelta(days=i), i * 1.5])
    ws.append([30, dt.date(2024, 3, 1), "n/a"])  # after the sample? no: sample is the whole sheet
    ws.append([None, None, None])  # an empty row carries no data
    wb.create_sheet("Other").append(["x"])
    wb.save(tmp_path / "ledger.xlsx")
    src = FileSource({"path": str(tmp_path / "ledger.xlsx"), "sheet": "Sheet1"})
    (obj,) = src.discover()
    assert obj.name == "ledger_sheet1"
    assert [c.type for c in obj.columns] == [pa.int64(), pa.date32(), pa.string()]
    table, rejects = read_all({"path": str(tmp_path / "ledger.xlsx")}, "ledger_sheet1", batch_rows=4)
    assert table is not None and table.num_rows == 30 and not rejects
    with pytest.raises(ObjectNotFoundError, match="Nope"):
        FileSource({"path": str(tmp_path / "ledger.xlsx"), "sheet": "Nope"}).discover()


# --- objects, errors, edge cases -----------------------------------------------------------------


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    src = FileSource({"path": str(tmp_path)})
    objs = {o.name: o for o in src.discover()}
    assert objs["empty"].columns == [] and objs["empty"].row_estimate == 0
    assert [c.name for c in objs["header_only"].columns] == ["a", "b"]
    assert objs["header_only"].row_estimate == 0
    assert list(src.read(ReadRequest(object="empty"))) == []
    assert list(src.read(ReadRequest(object="header_only"))) == []


def test_objects_per_file_with_clashing_names(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "data.csv").write_text("id\n1\n")
    (tmp_path / "notes.txt").write_text("not data")
    src = FileSource({"path": str(tmp_path / "**" / "*.csv")})
    assert sorted(o.name for o in src.discover()) == ["data", "data_2"]
    src = FileSource({"path": str(tmp_path / "a")})
    assert [o.name for o in src.discover()] == ["data"]


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="nothing_here"):
        FileSource({"path": str(tmp_path / "nothing_here" / "*.csv")}).test()
    with pytest.raises(ObjectNotFoundError, match=r"nope\.csv"):
        FileSource({"path": str(tmp_path / "nope.csv")}).test()
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(SourceFormatError, match="xlsx"):
        FileSource({"path": str(tmp_path / "old.xls")}).test()
    (tmp_path / "data.txt").write_text("a\n1\n")
    with pytest.raises(SourceFormatError, match="format"):
        FileSource({"path": str(tmp_path / "data.txt")}).test()
    table, _ = read_all({"path": str(tmp_path / "data.txt"), "format": "csv"}, "data")
    assert table is not None and table.num_rows == 1
    with pytest.raises(ConfigurationError):
        FileSource({})
    with pytest.raises(ConfigurationError, match="xls"):
        FileSource({"path": str(tmp_path), "format": "xls"})


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_permission_denied_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("id\n1\n")
    path.chmod(0)
    try:
        with pytest.raises(SourceError, match="permission denied"):
            FileSource({"path": str(path)}).test()
    finally:
        path.chmod(0o644)


def test_permission_denied_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("id\n1\n")
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "secret.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", deny)
    for call in (lambda s: s.test(), lambda s: s.discover()):
        with pytest.raises(SourceError, match="permission denied") as info:
            call(FileSource({"path": str(path)}))
        assert not isinstance(info.value, ObjectNotFoundError)


def test_cursor_inclusive_and_a_late_odd_value_kept(tmp_path: Path) -> None:
    rows = [f"{i},{i * 10}" for i in range(1, 10_051)]
    rows[10_019] = "10020,oops"  # past any first-rows sample: amount becomes text, the row is kept
    path = tmp_path / "seq.csv"
    path.write_text("id,amount\n" + "\n".join(rows) + "\n")
    cur = Cursor("id", "10010", "BIGINT")
    table, rejects = read_all({"path": str(path)}, "seq", cursor=cur, cursor_column="id")
    assert table is not None and table.num_rows == 40 and rejects == []
    assert table.schema.field("amount").type == pa.string()
    table, rejects = read_all({"path": str(path)}, "seq", cursor=cur, cursor_column="id", inclusive=True)
    assert table is not None and table.num_rows == 41
    late = Cursor("id", "10030", "BIGINT")
    table, rejects = read_all({"path": str(path)}, "seq", cursor=late, cursor_column="id")
    assert table is not None and table.num_rows == 20 and rejects == []


def test_discover_and_read_agree_and_batches_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("id,v\n" + "".join(f"{i},{i / 3}\n" for i in range(25_000)))
    src = FileSource({"path": str(path)})
    (obj,) = src.discover()
    assert obj.row_estimate == 25_000
    batches = [b.data for b in src.read(ReadRequest(object="wide", batch_rows=1000)) if b.data is not None]
    assert all(b.num_rows <= 1000 for b in batches)
    assert all(b.schema.equals(obj.schema()) for b in batches)
    assert sum(b.num_rows for b in batches) == 25_000


# --- real data -----------------------------------------------------------------------------------


def test_baltimore_311_sample_every_record_accounted_for(shared_data: Path) -> None:
    path = shared_data / "service-requests" / "311_sample.csv"
    truth = count_records(path)
    src = FileSource({"path": str(path)})
    (obj,) = src.discover()
    assert obj.name == "t_311_sample"
    types = {c.name: c.type for c in obj.columns}
    assert types["CreatedDate"] == pa.timestamp("us") and types["Latitude"] == pa.float64()
    table, rejects = read_all({"path": str(path)}, obj.name, batch_rows=3000)
    assert table is not None
    assert table.num_rows + len(rejects) == truth == 6_000


def test_openaq_toronto_every_record_accounted_for(shared_data: Path) -> None:
    folder = shared_data / "air-quality" / "openaq-toronto"
    truth = sum(count_records(p) for p in folder.glob("*.csv"))
    src = FileSource({"path": str(folder / "*.csv")})
    objects = src.discover()
    assert len(objects) == 15
    rows = rejects = 0
    for obj in objects:
        assert "datetimeUtc" in obj.cursor_candidates
        for batch in src.read(ReadRequest(object=obj.name, batch_rows=2000)):
            rows += batch.data.num_rows if batch.data is not None else 0
            rejects += len(batch.rejects)
    src.close()
    assert rows + rejects == truth == 6_552


def test_phone_and_id_numbers_stay_text(tmp_path: Path) -> None:
    """Mobile numbers (11 digits) are identifiers: as integers they would lose formatting and PII checks."""
    path = tmp_path / "residents.csv"
    path.write_text("id,mobile,idcard\n1,13812345678,430102199001011234\n2,15900001111,43010219900101123X\n",
                    encoding="utf-8")
    src = FileSource({"path": str(path)})
    obj = src.discover()[0]
    types = {c.name: c.type for c in obj.columns}
    assert types["mobile"] == pa.string() and types["idcard"] == pa.string() and types["id"] == pa.int64()


def test_keys_share_one_type_across_a_systems_files_and_stay_text_when_any_is_not_numeric(tmp_path: Path) -> None:
    (tmp_path / "stops.txt").write_text("stop_id,stop_name,opened\n70011,San Francisco,20170701\nctsf,Hub,20170702\n")
    (tmp_path / "transfers.txt").write_text("from_stop_id,to_stop_id,min_transfer_time\n70011,70012,120\n")
    (tmp_path / "readings_a.csv").write_text("station,pm25\nA,NA\nA,4\n")
    (tmp_path / "readings_b.csv").write_text("station,pm25\nB,3.5\nB,-\n")
    txt = {o.name: {c.name: c for c in o.columns}
           for o in FileSource({"path": str(tmp_path / "*.txt"), "format": "csv"}).discover()}
    assert txt["stops"]["stop_id"].type == pa.string()
    assert txt["transfers"]["from_stop_id"].type == pa.string() == txt["transfers"]["to_stop_id"].type
    assert txt["transfers"]["min_transfer_time"].type == pa.int64()
    assert txt["stops"]["opened"].type == pa.date32() and txt["stops"]["opened"].source_type.endswith("[%Y%m%d]")
    found = FileSource({"path": str(tmp_path / "*.csv")}).discover()
    csvs = {o.name: {c.name: c.type for c in o.columns} for o in found}
    assert csvs["readings_a"]["pm25"] == csvs["readings_b"]["pm25"] == pa.float64()  # NA and - are nulls
    table, rejects = read_all({"path": str(tmp_path / "*.csv")}, "readings_a")
    assert table is not None and table.column("pm25").to_pylist() == [None, 4.0] and rejects == []
