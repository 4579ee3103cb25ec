"""The case tables become governed lake datasets, queryable with SQL under the policy."""

from __future__ import annotations

import pytest

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, URBAN, make_departments, report
from urbanbrain.core.errors import PermissionDeniedError, QueryError
from urbanbrain.govern.principals import ANALYST, SYSTEM, Principal
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import list_datasets
from urbanbrain.operate.cases import create_case, transition
from urbanbrain.operate.publish import publish


def test_publish_and_query_cases() -> None:
    make_departments()
    for k in range(3):
        cid = create_case(report(f"q{k}", reporter="王伟", reporter_contact="13800000000"), DISPATCHER, now=T0)[0]["id"]
        transition(cid, "dispatch", DISPATCHER, department="urban", now=T0)
    with pytest.raises(PermissionDeniedError):
        publish(URBAN)
    names = publish(OPS_HEAD)
    assert names[0] == "hotline.cases.cases"
    rows = run_query("SELECT department, count(*) AS n FROM hotline.cases.cases GROUP BY 1", principal=SYSTEM)
    assert rows.table.to_pylist() == [{"department": "urban", "n": 3}]
    events = run_query("SELECT count(*) AS n FROM hotline.cases.case_events", principal=SYSTEM).table.to_pylist()
    assert events == [{"n": 6}]
    published = sorted(d.name for d in list_datasets(dept="hotline", include_quarantine=False))
    assert published == sorted(names)  # no other metadata table (users, keys, audit) reached the lake
    outsider = Principal("user", "ana", frozenset({"health"}), frozenset({ANALYST}))
    with pytest.raises(QueryError, match=r"no column of hotline\.cases\.cases is visible"):
        run_query("SELECT reporter_contact FROM hotline.cases.cases LIMIT 1", principal=outsider)  # governed


def test_publish_while_another_thread_commits() -> None:
    """Publishing reads the live metadata store through the platform's own connection while intake and
    the audit log's write-behind commit from other threads (through DuckDB's SQLite reader this crashed
    the process with a bus error); a second publish appends only the new history rows."""
    import threading

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case, CaseEvent
    from urbanbrain.operate.intake.base import submit

    make_departments()
    for k in range(5):
        create_case(report(f"p{k}"), DISPATCHER, now=T0)
    stop, errors, made = threading.Event(), [], []

    def writer() -> None:
        k = 0
        while not stop.is_set() and k < 400:  # bounded: a hang guard, not a timing
            try:
                made.append(submit(report(f"w{k}"), DISPATCHER, now=T0)[0]["id"])
            except Exception as exc:  # reported below
                errors.append(exc)
                return
            k += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            publish(OPS_HEAD)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive() and errors == [] and made
    publish(OPS_HEAD)  # everything committed by now: the lake equals the store
    with session_scope() as s:
        from sqlalchemy import func, select

        n_cases = s.scalar(select(func.count()).select_from(Case))
        n_events = s.scalar(select(func.count()).select_from(CaseEvent))
    lake = run_query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM hotline.cases.cases", principal=SYSTEM)
    assert lake.table.to_pylist() == [{"n": n_cases, "d": n_cases}]
    events = run_query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM hotline.cases.case_events",
                       principal=SYSTEM).table.to_pylist()
    assert events == [{"n": n_events, "d": n_events}]  # appended, never twice


def test_a_system_synced_by_an_earlier_version_is_converted() -> None:
    """Earlier versions registered the metadata store as a SQLite source `cases` and synced it (DuckDB
    typed the times as text): the next publish turns it into a platform system and rewrites its tables."""
    import pyarrow as pa
    from sqlalchemy import select

    from urbanbrain.core.secrets import encrypt
    from urbanbrain.lake.writer import TableWriter
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Department, System

    make_departments()
    create_case(report("old"), DISPATCHER, now=T0)
    with session_scope() as s:
        dept = s.scalar(select(Department).where(Department.code == "hotline"))
        assert dept is not None
        s.add(System(name="cases", department_id=dept.id, kind="sqlite", options_secret=encrypt({"url": "x"}),
                     schedule="every 15m"))
    old = pa.table({"id": ["C-old"], "created_at": ["2026-03-02 01:00:00"]})
    writer = TableWriter(("hotline", "cases", "cases"), old.schema, mode="replace")
    writer.open()
    writer.write(old)
    writer.commit()
    publish(OPS_HEAD)
    with session_scope() as s:
        system = s.scalar(select(System).where(System.name == "cases"))
        assert system is not None and (system.kind, system.schedule) == ("platform", "manual")
    rows = run_query("SELECT id, typeof(created_at) AS t FROM hotline.cases.cases", principal=SYSTEM).table.to_pylist()
    assert len(rows) == 1 and rows[0]["id"] != "C-old" and rows[0]["t"].startswith("TIMESTAMP")
