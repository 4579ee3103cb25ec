"""The duplicates check reads a latitude band of the category through `ix_cases_category_lat`
(migration 0022), not every case of the category: its cost no longer grows with the backlog."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.operate.helpers import OPS_HEAD, make_departments, report
from urbanbrain.meta.db import get_engine
from urbanbrain.operate import catalogue
from urbanbrain.operate.dispatch import _DUP_SQL, duplicates
from urbanbrain.operate.intake.base import submit

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_duplicates_use_the_category_latitude_index() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    with get_engine().connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + _DUP_SQL[0],
            ("路灯", "new", "dispatched", "returned", "accepted", "handling", "x", "a", "b", 0, 1, 0, 1)))
    assert "ix_cases_category_lat" in plan and "lat>" in plan, plan


def test_duplicates_found_near_and_not_far_through_the_intake() -> None:
    """Through the SQLite intake (the driver-cursor path): a report 20 m away is proposed as a duplicate,
    one 300 m away (outside the latitude band) and one of another category are not."""
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    first, _ = submit(report("d1", lon=112.98, lat=28.19), OPS_HEAD, now=NOW)
    near, _ = submit(report("d2", lon=112.98, lat=28.19018), OPS_HEAD, now=NOW)
    far, _ = submit(report("d3", lon=112.98, lat=28.1927), OPS_HEAD, now=NOW)
    assert near["proposal"]["proposal"]["duplicates"] == [first["id"]]
    assert far["proposal"]["proposal"]["duplicates"] == []
    assert duplicates("", "井盖", 112.98, 28.19, NOW) == []
    assert duplicates("", "路灯", 112.98, 28.19, NOW) == sorted([first["id"], near["id"]])
