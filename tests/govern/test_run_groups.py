"""`govern.batch.run_groups` and `kept.take_many`: every department's queries checked in one go, each run
on its OWN reader's connection under its OWN policy; a policy change between runs takes effect at once,
and a policy decided before an invalidation is never cached after it (attack tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sync.helpers import register
from urbanbrain.core.errors import QueryError
from urbanbrain.govern import classification as cls
from urbanbrain.govern import kept, policy
from urbanbrain.govern.batch import run_groups
from urbanbrain.govern.principals import STEWARD, Principal
from urbanbrain.govern.query import QueryResult
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.runner import run_sync

OWNER = Principal("consumer", "indicator:mine", frozenset({"market"}), frozenset())
OTHER = Principal("consumer", "indicator:theirs", frozenset({"water"}), frozenset())
STEVE = Principal("user", "m.steve", frozenset({"market"}), frozenset({STEWARD}))
SHOPS = "market.shops.shops"
COUNT = f"select count(*) as value from {SHOPS}"
PHONE = f"select max(owner_phone) as value from {SHOPS}"


@pytest.fixture
def shops(tmp_path: Path) -> Path:
    add_department("水务", "water")
    path = tmp_path / "shops.csv"
    path.write_text("id,district,owner_phone\n1,芙蓉区,13800000001\n2,岳麓区,13800000002\n", encoding="utf-8")
    register("shops", "files", {"path": str(path)})
    assert run_sync("shops").status == "succeeded"
    cls.set_field(SHOPS, "district", level="open", by=STEVE)
    cls.set_field(SHOPS, "owner_phone", level="open", by=STEVE)
    return path


def _values(out: list[QueryResult | QueryError]) -> list[object]:
    return [r.table.to_pylist()[0]["value"] if isinstance(r, QueryResult) else "refused" for r in out]


def test_each_department_runs_on_its_own_connection_under_its_own_policy(shops: Path) -> None:
    """The owner sees the phone in clear, the other department masked, in the SAME batch and on the
    same dataset, run after run (the second run reuses both kept connections, each for its own reader)."""
    for _ in range(2):
        mine, theirs = run_groups([(OWNER, [COUNT, PHONE], None), (OTHER, [COUNT, PHONE], None)])
        assert _values(mine) == [2, "13800000002"]
        assert _values(theirs) == [2, "138****0002"]
    own, other = kept.key_of(OWNER, [("market", "shops", "shops")]), kept.key_of(OTHER, [("market", "shops", "shops")])
    assert kept._KEPT[own] is not kept._KEPT[other]
    # the other department's key never hands out the owner's connection, even asked for in one call
    held_own = kept._KEPT[own]
    taken = kept.take_many([(other, OTHER), (own, OTHER)])  # the owner's key with the wrong reader
    assert taken[0] is not None and taken[0] is not held_own
    assert taken[1] is None  # its views were built under the owner's policy, not OTHER's: closed, not lent
    assert own not in kept._KEPT
    kept.give(other, taken[0])


def test_a_policy_change_between_batched_runs_takes_effect(shops: Path) -> None:
    run_groups([(OWNER, [PHONE], None), (OTHER, [PHONE], None)])
    cls.set_field(SHOPS, "owner_phone", level="closed", by=STEVE)
    mine, theirs = run_groups([(OWNER, [COUNT, PHONE], None), (OTHER, [COUNT, PHONE], None)])
    assert _values(mine) == [2, "13800000002"]  # the owner still sees its own data as stored
    assert _values(theirs) == [2, "refused"]  # the closed field is gone for the other department at once
    shops.write_text("id,district,owner_phone\n1,芙蓉区,1\n2,岳麓区,2\n3,雨花区,3\n", encoding="utf-8")
    assert run_sync("shops").status == "succeeded"
    mine, theirs = run_groups([(OWNER, [COUNT], None), (OTHER, [COUNT], None)])
    assert _values(mine) == [3] and _values(theirs) == [3]  # the new snapshot for both


def test_a_policy_decided_before_an_invalidation_is_not_cached_after_it(shops: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The race `TtlCache.generation` closes: a field is closed (the cache cleared) while a batch is
    deciding policies from what it read before; that batch may use its answer once, the next must not."""
    policy.invalidate()
    real = policy._decide_many

    def decide_then_close(*args: object, **kwargs: object) -> object:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        cls.set_field(SHOPS, "owner_phone", level="closed", by=STEVE)  # clears the policy cache meanwhile
        return out

    monkeypatch.setattr(policy, "_decide_many", decide_then_close)
    [before] = policy.policies_for_many([(OTHER, SHOPS)])
    assert before is not None
    assert "owner_phone" in [c.name for c in before.columns]  # decided from the rows read before the change
    monkeypatch.setattr(policy, "_decide_many", real)
    [after] = policy.policies_for_many([(OTHER, SHOPS)])
    assert after is not None
    assert "owner_phone" not in [c.name for c in after.columns] and "owner_phone" in after.hidden


def test_a_missing_dataset_is_none_in_a_batch_and_an_error_alone(shops: Path) -> None:
    from urbanbrain.core.errors import NotFoundError

    out = policy.policies_for_many([(OTHER, SHOPS), (OTHER, "market.shops.gone")])
    assert out[0] is not None and out[1] is None
    with pytest.raises(NotFoundError):
        policy.policies_for(OTHER, ["market.shops.gone"])
    assert _values(run_groups([(OTHER, ["select count(*) as value from market.shops.gone", COUNT], None)])[0]) == [
        "refused", 2]


def test_groups_run_side_by_side_still_audit_every_read_in_the_callers_held_run(shops: Path) -> None:
    """The groups run on several threads; every read (one per query and dataset, each as its own reader)
    reaches the caller's `reads_held`, none goes round it to the background buffer."""
    from urbanbrain.govern import audit
    from urbanbrain.meta.db import session_scope

    audit.flush()
    readers = [OWNER, OTHER, Principal("consumer", "indicator:third", frozenset({"water"}), frozenset())]
    with audit.reads_held() as held:
        out = run_groups([(r, [COUNT, PHONE, COUNT], None) for r in readers])
        assert [_values(o) for o in out] == [[2, "13800000002", 2]] + [[2, "138****0002", 2]] * 2
        assert sorted(e.principal for e in held) == sorted([r.label for r in readers] * 3)
        assert all(e.action == "data.read" and e.target == SHOPS for e in held)
        before = len(audit.list_entries(action="data.read", limit=None))
        with session_scope() as s:
            audit.record_all([], session=s, held=held)
        held.clear()
    audit.flush()
    assert len(audit.list_entries(action="data.read", limit=None)) == before + 9  # each read once
    assert audit.verify().ok


def test_two_callers_at_once_each_get_their_own_reads_and_policies(shops: Path) -> None:
    """The scheduler and an API request refreshing at the same moment (two callers, four readers each,
    every group on the pool): each reader its own masked or clear value, each caller's held run
    exactly its own reads (from an outside review)."""
    import threading

    from urbanbrain.govern import audit

    readers = [OWNER, OTHER, Principal("consumer", "indicator:third", frozenset({"water"}), frozenset()),
               Principal("consumer", "indicator:fourth", frozenset({"market"}), frozenset())]
    want = {r.label: "13800000002" if "market" in r.departments else "138****0002" for r in readers}
    errors: list[str] = []

    def caller(k: int) -> None:
        for i in range(6):
            order = readers[k:] + readers[:k]
            with audit.reads_held() as held:
                out = run_groups([(r, [COUNT, PHONE], None) for r in order])
                errors.extend(f"caller {k} run {i}: {r.label} got {_values(o)}"
                              for r, o in zip(order, out, strict=True) if _values(o) != [2, want[r.label]])
                if sorted(e.principal for e in held) != sorted([r.label for r in order] * 2):
                    errors.append(f"caller {k} run {i}: held {sorted(e.principal for e in held)}")
                held.clear()

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_group_that_fails_is_its_own_error_and_the_others_stand(shops: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """One reader's unexpected failure (its connection broke, say) is the error of its own queries; the
    other reader's answers, audit and kept connection are as if it ran alone — nothing is run twice."""
    from urbanbrain.govern import audit, batch

    run_groups([(OWNER, [COUNT], None), (OTHER, [COUNT], None)])  # both connections kept
    real = batch._run_group

    def broken(principal: Principal, *a: Any, **k: Any) -> Any:
        if principal is OTHER:
            raise RuntimeError("connection reset")
        return real(principal, *a, **k)

    monkeypatch.setattr(batch, "_run_group", broken)
    with audit.reads_held() as held:
        mine, theirs = run_groups([(OWNER, [COUNT, PHONE], None), (OTHER, [COUNT, PHONE], None)])
        assert _values(mine) == [2, "13800000002"]
        assert [type(e).__name__ for e in theirs] == ["QueryError"] * 2
        assert all(isinstance(e, QueryError) and "connection reset" in e.message for e in theirs)
        assert sorted(e.principal for e in held) == [OWNER.label] * 2  # the owner's reads, once
        held.clear()
    assert kept.key_of(OWNER, [("market", "shops", "shops")]) in kept._KEPT
