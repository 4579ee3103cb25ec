"""`govern.batch.run_queries`: several queries as one principal on one sealed connection — each checked,
answered and audited as `run_query` would, and one bad query never hides the others' answers."""

from __future__ import annotations

from pathlib import Path

from tests.sync.helpers import register
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.govern import audit
from urbanbrain.govern.batch import run_queries
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult
from urbanbrain.sync.runner import run_sync

OWNER = Principal("consumer", "indicator:x", frozenset({"market"}), frozenset())
OTHER = Principal("consumer", "indicator:y", frozenset({"water"}), frozenset())


def test_each_query_gets_its_own_answer_or_error(tmp_path: Path) -> None:
    (tmp_path / "shops.csv").write_text("id,district\n1,芙蓉区\n2,芙蓉区\n3,岳麓区\n", encoding="utf-8")
    register("shops", "files", {"path": str(tmp_path / "shops.csv")})
    assert run_sync("shops").status == "succeeded"
    audit.flush()
    before = len(audit.list_entries(action="data.read"))
    out = run_queries(["select count(*) as value from market.shops.shops",
                       "select district, count(*) as value from market.shops.shops group by 1 order by 1",
                       "select nonsense from market.shops.shops",
                       "selec 1",
                       "select * from read_csv('/etc/passwd')"], principal=OWNER)
    assert isinstance(out[0], QueryResult) and out[0].table.to_pylist() == [{"value": 3}]
    assert isinstance(out[1], QueryResult) and out[1].table.to_pylist() == [
        {"district": "岳麓区", "value": 1}, {"district": "芙蓉区", "value": 2}]
    assert isinstance(out[2], QueryError) and "nonsense" in out[2].message
    assert isinstance(out[3], QueryError)
    assert isinstance(out[4], ReadOnlyViolationError | QueryError) and not isinstance(out[4], QueryResult)
    audit.flush()  # reads are audited in buffered batches
    reads = audit.list_entries(action="data.read")[: len(audit.list_entries(action="data.read")) - before]
    assert len(reads) == 2 and all(e.target == "market.shops.shops" for e in reads)  # one per answered read
    # a dataset that is gone: the shared connection cannot open, so each query runs alone
    gone = run_queries(["select count(*) as value from market.shops.gone",
                        "select count(*) as value from market.shops.shops"], principal=OWNER)
    assert isinstance(gone[0], QueryError) and isinstance(gone[1], QueryResult)
    # another department sees the dataset only as shared (nothing here): refused, not answered
    assert all(isinstance(r, QueryError) for r in run_queries(
        ["select count(*) as value from market.shops.shops"], principal=OTHER))


def test_a_kept_connection_is_reused_only_while_snapshot_and_policy_are_unchanged(tmp_path: Path) -> None:
    """`govern.kept`: the second run reuses the first run's sealed connection; a new snapshot or a
    field closed in between means a fresh one, so a kept connection never shows what the reader may
    no longer see, nor yesterday's data."""
    from urbanbrain.govern import classification as cls
    from urbanbrain.govern import kept
    from urbanbrain.govern.principals import STEWARD
    from urbanbrain.meta.departments import add_department

    add_department("水务", "water")
    path = tmp_path / "shops.csv"
    path.write_text("id,district,owner_phone\n1,芙蓉区,13800000001\n2,岳麓区,13800000002\n", encoding="utf-8")
    register("shops", "files", {"path": str(path)})
    assert run_sync("shops").status == "succeeded"
    steward = Principal("user", "m.steve", frozenset({"market"}), frozenset({STEWARD}))
    cls.set_field("market.shops.shops", "district", level="open", by=steward)
    cls.set_field("market.shops.shops", "owner_phone", level="open", by=steward)
    sql = ["select count(*) as value from market.shops.shops",
           "select max(owner_phone) as value from market.shops.shops"]
    first = run_queries(sql, principal=OTHER)
    assert [r.table.to_pylist() for r in first if isinstance(r, QueryResult)] == [
        [{"value": 2}], [{"value": "138****0002"}]]  # open, and masked as a phone number
    key = kept.key_of(OTHER, [("market", "shops", "shops")])
    held = kept._KEPT[key]
    run_queries(sql, principal=OTHER)
    assert kept._KEPT[key] is held  # reused: same connection, nothing changed
    cls.set_field("market.shops.shops", "owner_phone", level="closed", by=steward)
    closed = run_queries(sql, principal=OTHER)
    assert isinstance(closed[0], QueryResult) and isinstance(closed[1], QueryError)  # the field is gone at once
    assert kept._KEPT[key] is not held
    held = kept._KEPT[key]
    path.write_text("id,district,owner_phone\n1,芙蓉区,1\n2,岳麓区,2\n3,雨花区,3\n", encoding="utf-8")
    assert run_sync("shops").status == "succeeded"
    fresh = run_queries(sql[:1], principal=OTHER)
    assert isinstance(fresh[0], QueryResult) and fresh[0].table.to_pylist() == [{"value": 3}]  # the new snapshot
    assert kept._KEPT[key] is not held
