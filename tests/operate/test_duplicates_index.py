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


def test_driver_cursor_rows_are_what_core_would_write() -> None:
    """The intake's case and history rows, written through the driver's cursor on SQLite, are byte for
    byte the rows SQLAlchemy's Core INSERTs write for the same values (times, JSON, NULLs)."""
    from sqlalchemy import delete

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case, CaseEvent
    from urbanbrain.operate.cases import _CASES, _EVENTS, _INSERT_CASE, _INSERT_EVENTS

    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    case, _ = submit(report("raw1", lon=112.98, lat=28.19, reporter="李娜"), OPS_HEAD, now=NOW)
    with session_scope() as s:
        conn = s.connection()
        raw_case = conn.exec_driver_sql("SELECT * FROM cases WHERE id = ?", (case["id"],)).all()
        raw_events = conn.exec_driver_sql("SELECT * FROM case_events WHERE case_id = ? ORDER BY id",
                                          (case["id"],)).all()
        loaded = s.get(Case, case["id"])
        events = list(s.query(CaseEvent).filter(CaseEvent.case_id == case["id"]).order_by(CaseEvent.id))
        values = {col.name: getattr(loaded, col.name) for col in _CASES.columns}
        rows = [{col.name: getattr(e, col.name) for col in _EVENTS.columns} for e in events]
        conn.execute(delete(_EVENTS).where(_EVENTS.c.case_id == case["id"]))
        conn.execute(delete(_CASES).where(_CASES.c.id == case["id"]))
        conn.execute(_INSERT_CASE, values)
        conn.execute(_INSERT_EVENTS, rows)
        assert conn.exec_driver_sql("SELECT * FROM cases WHERE id = ?", (case["id"],)).all() == raw_case
        assert conn.exec_driver_sql("SELECT * FROM case_events WHERE case_id = ? ORDER BY id",
                                    (case["id"],)).all() == raw_events
        assert len(raw_events) == 2 and raw_case[0].proposal.startswith("{")
        s.rollback()
