"""Periodic jobs (`core/jobs.py`, `sync/jobs.py`): registered as plug-ins, run by `urbanbrain worker`, each in
one process at a time (a lease), moving to a stand-by worker when the holder stops; a failing round is
logged and the next one runs."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from tests.operate.helpers import make_departments
from urbanbrain.core.clock import utcnow
from urbanbrain.core.jobs import JOBS, Job
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.meta import leases
from urbanbrain.operate.indicators import define_indicator, get_indicator
from urbanbrain.sync import jobs as runner
from urbanbrain.sync.worker import run_worker


def _until(check: object, seconds: float = 60.0) -> None:
    """Hang guard only: how long it takes is not asserted (a loaded machine is slow)."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_platform_registers_its_jobs() -> None:
    assert {"sla-sweep", "indicator-compute", "case-publish", "lake-maintain"} <= {j.name for j in runner.load_jobs()}


def test_a_job_runs_in_one_worker_at_a_time_and_moves_when_it_stops() -> None:
    ran: list[str] = []
    failing = {"left": 1}

    def work() -> object:
        ran.append(threading.current_thread().name + ":" + str(threading.get_ident()))
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("a bad round")  # logged; the next round still runs
        return None

    JOBS.add("test-tick", Job("test-tick", lambda: 0.05, work))
    first, second = threading.Event(), threading.Event()
    [a] = runner.start_jobs(first, only=["test-tick"])
    _until(lambda: len(ran) >= 3)
    [b] = runner.start_jobs(second, only=["test-tick"])
    time.sleep(0.3)
    assert len(set(ran)) == 1  # the second worker stands by: the lease is held
    assert [lease.name for lease in leases.current("job:")] == ["job:test-tick"]
    holder = ran[0]
    first.set()
    a.join(timeout=30)
    count = len(ran)
    _until(lambda: len(ran) > count + 2)  # the stand-by takes the released lease on its next try
    assert set(ran[count + 1:]) - {holder}
    second.set()
    b.join(timeout=30)
    assert leases.current("job:") == []


def test_the_worker_computes_due_indicators() -> None:
    make_departments()
    define_indicator(SYSTEM, "open_now", sql="select 3.0 as value", department="hotline", theme="hotline",
                     schedule="every 1m", now=utcnow() - timedelta(hours=1))
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop, "poll_seconds": 0.1}, daemon=True)
    thread.start()
    try:
        _until(lambda: get_indicator("open_now")["history"])
    finally:
        stop.set()
        thread.join(timeout=60)
    assert [p["value"] for p in get_indicator("open_now")["history"]] == [3.0]
    assert not thread.is_alive() and leases.current("job:") == []  # the jobs stop with the worker


def test_the_case_tables_job_publishes_once_there_are_cases() -> None:
    from tests.operate.helpers import DISPATCHER, T0, report
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.datasets import list_datasets
    from urbanbrain.operate.cases import create_case
    from urbanbrain.operate.jobs import CASE_PUBLISH

    make_departments()
    assert runner.run_round(CASE_PUBLISH) is None and list_datasets(dept="hotline") == []  # nothing to publish
    create_case(report("j1"), DISPATCHER, now=T0)
    assert "hotline.cases.cases" in str(runner.run_round(CASE_PUBLISH))
    rows = run_query("SELECT count(*) AS n FROM hotline.cases.cases", principal=SYSTEM).table.to_pylist()
    assert rows == [{"n": 1}]
