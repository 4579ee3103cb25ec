"""A group of files (the files connector's `object` option) above `sync_split_rows` is synced as parts of
whole files (sync/split.py), each writing its data files uncommitted, and committed by the sync with the
cursor in one Iceberg commit: the lake then holds exactly what the one-piece sync lands, one snapshot per
sync, nothing lost or doubled, also when new files arrive with rows tied at the stored cursor's value."""

from __future__ import annotations

import datetime as dt
import logging
import pickle
from pathlib import Path

import pytest

from tests.sync.helpers import register
from tests.sync.test_split import _lake, _state, _sync
from urbanbrain.connect.base import ReadRequest
from urbanbrain.connect.files import FileSource
from urbanbrain.connect.systems import configure_object
from urbanbrain.core.errors import SourceFormatError
from urbanbrain.core.settings import get_settings
from urbanbrain.sync import split

BASE = dt.datetime(2026, 1, 1)
FILES, PER_FILE = 6, 250


def _write(path: Path, start: int, stop: int, stamp: dt.datetime | None = None, shuffled: bool = False) -> None:
    lines = [f"{i},station-{i % 13},{i * 0.5},{(stamp or BASE + dt.timedelta(minutes=i)).isoformat(sep=' ')}"
             for i in range(start, stop)]
    if shuffled:  # columns in another order: the file still belongs to the group
        lines = [",".join([p[3], p[0], p[2], p[1]]) for p in (line.split(",") for line in lines)]
        path.write_text("updated_at,id,value,station\n" + "\n".join(lines) + "\n", encoding="utf-8")
        return
    path.write_text("id,station,value,updated_at\n" + "\n".join(lines) + "\n", encoding="utf-8")


def _folder(root: Path) -> Path:
    root.mkdir()
    for f in range(FILES):
        _write(root / f"readings_{f:02d}.csv", f * PER_FILE, (f + 1) * PER_FILE, shuffled=f == 3)
    return root


def test_a_split_group_of_files_equals_the_one_piece_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    whole, parts = _folder(tmp_path / "whole"), _folder(tmp_path / "parts")
    register("fwhole", "files", {"path": str(whole / "*.csv"), "object": "readings"})
    register("fparts", "files", {"path": str(parts / "*.csv"), "object": "readings"})
    for name in ("fwhole", "fparts"):
        configure_object(name, "readings", cursor_column="updated_at")
    _sync("fwhole", 0, monkeypatch)
    with caplog.at_level(logging.INFO, logger="urbanbrain.sync"):
        _sync("fparts", 600, monkeypatch)  # 1,500 rows in 6 files: 3 groups of 2 files
    assert "3 file groups synced as parts" in caplog.text
    assert _lake("fparts") == _lake("fwhole") and len(_lake("fparts")) == FILES * PER_FILE
    assert _state("fparts") == _state("fwhole")
    assert _state("fparts")[1] == 1  # the parts' files and the cursor: one commit

    # new files: rows beyond the cursor, three tied at its value, and an old file left as it was
    last = BASE + dt.timedelta(minutes=FILES * PER_FILE - 1)
    total = FILES * PER_FILE
    for folder in (whole, parts):
        _write(folder / "readings_06.csv", total, total + 400)
        _write(folder / "readings_07.csv", total + 400, total + 700)
        _write(folder / "readings_08.csv", total + 700, total + 703, stamp=last)
    caplog.clear()
    _sync("fwhole", 0, monkeypatch)
    with caplog.at_level(logging.INFO, logger="urbanbrain.sync"):
        _sync("fparts", 600, monkeypatch)
    assert "file groups synced as parts" in caplog.text
    assert _lake("fparts") == _lake("fwhole")
    assert len(_lake("fparts")) == total + 703  # nothing doubled, nothing lost
    assert _state("fparts") == _state("fwhole") and _state("fparts")[1] == 2  # one snapshot per sync


def test_file_parts_cover_every_file_once_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path / "files")
    source = FileSource({"path": str(folder / "*.csv"), "object": "readings"})
    [obj] = source.discover()
    assert obj.name == "readings" and obj.row_estimate == FILES * PER_FILE
    assert [c.name for c in obj.columns] == ["id", "station", "value", "updated_at"]
    files = sorted(str(p) for p in folder.glob("*.csv"))
    for rows, max_parts, expect in ((600, 64, 3), (250, 64, 6), (1, 4, 4), (10_000, 64, 1)):
        parts = source.file_parts(ReadRequest("readings"), rows, max_parts)
        groups = [list(p.files or ()) for p in parts] if parts else [files]
        assert [f for g in groups for f in g] == files and len(groups) == expect, (rows, max_parts)
    single = FileSource({"path": str(folder / "readings_00.csv")})
    assert single.file_parts(ReadRequest("readings_00"), 10, 64) is None
    # a part reads only its files, in the group's column order, planned or not
    planned_parts = source.file_parts(ReadRequest("readings"), 250, 64)
    assert planned_parts is not None
    travelled = pickle.loads(pickle.dumps(planned_parts[3]))  # as it reaches a Ray node
    for request in (ReadRequest("readings", files=(files[3],)), planned_parts[3], travelled):
        got = list(FileSource({"path": str(folder / "*.csv"), "object": "readings"}).read(request))
        assert sum(b.data.num_rows for b in got if b.data is not None) == PER_FILE
        names = {tuple(b.data.schema.names) for b in got if b.data is not None}
        assert names == {("id", "station", "value", "updated_at")}
    monkeypatch.setenv("URBANBRAIN_SYNC_SPLIT_ROWS", "600")
    get_settings.cache_clear()
    planned = split.plan(source, ReadRequest("readings"), None, obj.row_estimate)
    assert planned is not None and [r.files for r in planned] == [tuple(files[i:i + 2]) for i in (0, 2, 4)]
    assert split.plan(source, ReadRequest("readings"), None, 500) is None  # small: one piece


def test_files_of_one_group_must_share_their_columns(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "files")
    (folder / "other.csv").write_text("id,colour\n1,red\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"other\.csv"):
        FileSource({"path": str(folder / "*.csv"), "object": "readings"}).discover()
