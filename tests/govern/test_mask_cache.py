"""Materialised masked views: what they hold, when they are rebuilt, who can read them, how they age out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.govern.city import ANALYST_TRANSPORT, BENEFITS, RESIDENTS, STEWARD_POLICE, City
from urbanbrain.core.errors import QueryError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import sharing
from urbanbrain.govern.principals import ANALYST, Principal
from urbanbrain.govern.query import run_query
from urbanbrain.lake import maskcache
from urbanbrain.sync.runner import run_sync

Q = f"SELECT * FROM {RESIDENTS} ORDER BY id"
ANALYST_SOCIAL_OTHER = Principal("user", "sol", frozenset({"housing"}), frozenset({ANALYST}))


def _files() -> list[Path]:
    return sorted(maskcache.cache_dir().glob("*.parquet"))


@pytest.fixture
def cache(in_city: City) -> Iterator[City]:
    maskcache.clear()
    yield in_city
    maskcache.clear()


def _setting(monkeypatch: pytest.MonkeyPatch, name: str, value: int) -> None:
    monkeypatch.setenv(f"URBANBRAIN_{name.upper()}", str(value))
    get_settings.cache_clear()


def test_the_materialised_view_holds_only_what_the_view_shows(cache: City, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_query(Q, principal=ANALYST_TRANSPORT).table
    files = _files()
    assert len(files) == 1
    stored = pq.read_table(files[0])
    assert set(stored.column_names) == set(first.column_names)  # hidden columns are not in it either
    cells = {str(v) for col in stored.columns for v in col.to_pylist()}
    assert not cells & set(cache.protected)
    assert run_query(Q, principal=ANALYST_TRANSPORT).table.equals(first)  # the second read is the file
    assert _files() == files
    _setting(monkeypatch, "mask_cache_max_bytes", 0)  # the same query masked on the fly agrees
    assert run_query(Q, principal=ANALYST_TRANSPORT).table.equals(first)


def test_a_new_grant_and_new_rows_are_never_served_from_an_old_file(cache: City) -> None:
    assert "mobile" not in run_query(Q, principal=ANALYST_TRANSPORT).table.column_names
    req = sharing.request_fields(RESIDENTS, ["mobile"], "road works notices", 30, by=ANALYST_TRANSPORT)
    sharing.approve(req.id, by=STEWARD_POLICE, fields=["mobile"], days=7)
    granted = run_query(Q, principal=ANALYST_TRANSPORT).table
    assert granted.column("mobile").to_pylist() == [m[:3] + "****" + m[-4:] for m in cache.mobiles]  # granted, masked
    assert len(_files()) == 2

    conn = sqlite3.connect(cache.home / "police.db")
    conn.execute("INSERT INTO residents VALUES (9999, '新居民', NULL, '13900000000', '湖南省长沙市岳麓区新路1号', "
                 "'岳麓区', 30)")
    conn.commit()
    conn.close()
    assert run_sync("hukou").status == "succeeded"
    after = run_query(Q, principal=ANALYST_TRANSPORT).table
    assert after.num_rows == len(cache.ids) + 1
    assert after.column("mobile").to_pylist()[-1] == "139****0000"
    assert after.column("address").to_pylist()[-1] != "湖南省长沙市岳麓区新路1号"  # still masked
    assert len(_files()) == 3


def test_another_principal_cannot_read_a_materialised_file(cache: City) -> None:
    run_query(f"SELECT * FROM {BENEFITS}", principal=ANALYST_TRANSPORT)
    [other] = _files()
    for sql in (f"SELECT * FROM read_parquet('{other}')", f"SELECT * FROM '{other}'"):
        with pytest.raises(QueryError):
            run_query(sql, principal=ANALYST_SOCIAL_OTHER)


def test_large_datasets_are_masked_on_the_fly_and_the_cache_stays_under_its_budget(
        cache: City, monkeypatch: pytest.MonkeyPatch) -> None:
    _setting(monkeypatch, "mask_cache_max_bytes", 1)
    masked = run_query(Q, principal=ANALYST_TRANSPORT).table
    assert _files() == []
    assert not set(masked.column("address").to_pylist()) & set(cache.addresses)

    monkeypatch.delenv("URBANBRAIN_MASK_CACHE_MAX_BYTES")
    _setting(monkeypatch, "mask_cache_total_bytes", 1)
    run_query(Q, principal=ANALYST_TRANSPORT)
    run_query(f"SELECT * FROM {BENEFITS}", principal=ANALYST_TRANSPORT)
    assert len(_files()) == 1  # the older view was evicted; the one just written stays
    assert run_query(Q, principal=ANALYST_TRANSPORT).table.equals(masked)  # and is rebuilt on demand
