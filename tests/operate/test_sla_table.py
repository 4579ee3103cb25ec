"""The SLA clocks' narrow table `case_sla` (migration 0020): kept in step with the case by every
transition, its marks read back on the case, and an existing database's marks carried over."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, select

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, URBAN, make_departments, report
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import CaseSla
from urbanbrain.operate import sla, stats
from urbanbrain.operate.cases import create_case, get_case, list_cases, transition


def clocks(case_id: str) -> dict[int, tuple[object, object, object]]:
    """kind → (due, raised, stopped) of the case's clock rows."""
    with session_scope() as s:
        return {r.kind: (r.due_at, r.raised_at, r.stopped_at)
                for r in s.scalars(select(CaseSla).where(CaseSla.case_id == case_id))}


def test_transitions_keep_the_clocks_in_step() -> None:
    make_departments()
    sla.set_policy(OPS_HEAD, "*", respond="1h", resolve="1d")
    case = create_case(report("a"), DISPATCHER, now=T0)[0]
    assert sorted(clocks(case["id"])) == [0, 1, 2, 3]
    transition(case["id"], "dispatch", DISPATCHER, department="urban", now=T0)
    transition(case["id"], "accept", URBAN, now=T0 + timedelta(minutes=5))
    row = clocks(case["id"])
    assert row[0][2] is not None and row[1][2] is not None and row[2][2] is None  # the response clocks stopped
    assert sla.sweep(T0 + timedelta(hours=2)) == {"respond.warning": 0, "respond.overdue": 0,
                                                  "resolve.warning": 0, "resolve.overdue": 0}  # responded in time
    transition(case["id"], "feedback", URBAN, note="修好了", now=T0 + timedelta(hours=3))
    assert sla.sweep(T0 + timedelta(days=2))["resolve.overdue"] == 0  # resolved: the clock stopped
    transition(case["id"], "reopen", DISPATCHER, reason="又坏了", now=T0 + timedelta(days=2))
    counts = sla.sweep(T0 + timedelta(days=2, minutes=1))  # reopened past its deadline: raised now, once
    assert (counts["resolve.warning"], counts["resolve.overdue"]) == (1, 1)
    shown = get_case(case["id"], DISPATCHER)
    assert shown["resolve_overdue_at"] == (T0 + timedelta(days=2, minutes=1)).isoformat()
    assert shown["respond_warned_at"] is None
    assert [c["id"] for c in list_cases(DISPATCHER, overdue=True, now=T0 + timedelta(days=3))] == [case["id"]]
    assert sla.recount_from_history() == {k: v for k, v in sla.figures().items() if k in counts}
    assert stats.summary(DISPATCHER)["escalated"] == 1  # counted by a join on the clock rows
    assert [(d["department"], d["escalated"]) for d in stats.departments(DISPATCHER)] == [("urban", 1)]


def test_a_merged_case_stops_its_clocks() -> None:
    make_departments()
    sla.set_policy(OPS_HEAD, "*", respond="1h", resolve="1d")
    first = create_case(report("m1"), DISPATCHER, now=T0)[0]
    second = create_case(report("m2"), DISPATCHER, now=T0)[0]
    transition(second["id"], "merge", DISPATCHER, into=first["id"], now=T0)
    assert all(due is None for due, _raised, _stopped in clocks(second["id"]).values())
    counts = sla.sweep(T0 + timedelta(days=2))
    assert counts["respond.overdue"] == 1 and counts["resolve.overdue"] == 1  # the first case only


def test_a_case_without_a_policy_has_no_clock_row() -> None:
    make_departments()
    case = create_case(report("free"), DISPATCHER, now=T0)[0]
    assert clocks(case["id"]) == {} and case["respond_warned_at"] is None
    transition(case["id"], "dispatch", DISPATCHER, department="urban", now=T0)  # nothing to keep in step


def test_migration_carries_the_marks_over(tmp_path: Path) -> None:
    """A database at 0019 with a marked case: after 0021 the marks are in `case_sla` and still read."""
    from alembic import command
    from alembic.config import Config

    import urbanbrain.meta.db as db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config(str(Path(db.__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(Path(db.__file__).with_name("migrations")))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0019")
    with sqlite3.connect(tmp_path / "old.db") as raw:
        raw.execute("INSERT INTO cases (id, channel, source_ref, status, version, priority, title, description, "
                    "proposal, returns, created_at, updated_at, department, respond_warn_at, respond_due_at, "
                    "respond_warned_at) VALUES ('C1', 'api', 'r', 'dispatched', 2, 'normal', 't', 'd', '{}', 0, "
                    "'2026-03-02 01:00:00', '2026-03-02 01:00:00', 'urban', '2026-03-02 01:48:00', "
                    "'2026-03-02 02:00:00', '2026-03-02 01:50:00')")
        raw.execute("INSERT INTO cases (id, channel, source_ref, status, version, priority, title, description, "
                    "proposal, returns, created_at, updated_at) VALUES ('C2', 'api', 'r2', 'new', 1, 'normal', "
                    "'t', 'd', '{}', 0, '2026-03-02 01:00:00', '2026-03-02 01:00:00')")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with sqlite3.connect(tmp_path / "old.db") as raw:
        rows = raw.execute("SELECT case_id, kind, due_at, raised_at FROM case_sla ORDER BY kind").fetchall()
        columns = {r[1] for r in raw.execute("PRAGMA table_info(cases)")}
    assert rows == [("C1", 0, "2026-03-02 01:48:00", "2026-03-02 01:50:00"), ("C1", 1, "2026-03-02 02:00:00", None)]
    assert "respond_warned_at" not in columns and "respond_due_at" in columns
    with engine.begin() as conn:  # and back down: the marks return to the case rows
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    with sqlite3.connect(tmp_path / "old.db") as raw:
        assert raw.execute("SELECT respond_warned_at FROM cases WHERE id = 'C1'").fetchone() == ("2026-03-02 01:50:00",)
    engine.dispose()
