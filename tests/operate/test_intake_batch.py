"""Group commit of intake on SQLite: reports arriving together are committed together, each answered alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from tests.operate.helpers import DISPATCHER, OPS_HEAD, OUTSIDER, make_departments, report
from urbanbrain.capability.consumers import add_consumer, create_key
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern import audit
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import get_engine, session_scope
from urbanbrain.meta.models import Case, CaseEvent
from urbanbrain.operate import catalogue
from urbanbrain.operate.cases import Report
from urbanbrain.operate.intake import batch
from urbanbrain.operate.intake.base import submit
from urbanbrain.web.app import create_app


@pytest.fixture
def city() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Every committed write transaction of the metadata store while the test runs (one fsync each)."""
    seen: list[int] = []
    engine = get_engine()

    def count(conn: Any) -> None:
        if conn.connection.dbapi_connection.in_transaction:  # a write transaction: reads commit nothing
            seen.append(1)

    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


def _together(jobs: list[tuple[Report, Principal, bool]]) -> list[tuple[dict[str, Any], bool] | BaseException]:
    """Submit `jobs` from one thread each while the writer is held, so they all queue and form one group."""
    answers: list[tuple[dict[str, Any], bool] | BaseException | None] = [None] * len(jobs)

    def one(k: int) -> None:
        rep, by, authorise = jobs[k]
        try:
            answers[k] = submit(rep, by, authorise=authorise)
        except BaseException as exc:  # the caller's own error is part of what is checked
            answers[k] = exc

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
    with batch._WRITER:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(batch._QUEUE) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(batch._QUEUE) == len(jobs)
    for t in threads:
        t.join(30)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def _spread(k: int) -> Report:
    """A report far enough from the others not to be proposed as their duplicate."""
    return report(f"g{k}", f"路灯不亮 {k}", address=None, lon=112.95 + k * 0.002, lat=28.15 + k * 0.002)


def _count(model: Any) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_reports_arriving_together_are_one_commit_each_with_its_own_case(city: None, commits: list[int]) -> None:
    n = 24
    answers = _together([(_spread(k), DISPATCHER, True) for k in range(n)])
    cases = [a for a in answers if isinstance(a, tuple)]
    assert len(cases) == n and all(created for _, created in cases)
    assert len({c["id"] for c, _ in cases}) == n
    assert all(c["status"] == "dispatched" and c["department"] == "urban" for c, _ in cases)
    assert len(commits) == 1  # one transaction, so one fsync, for the whole group
    assert _count(Case) == n and _count(CaseEvent) == 2 * n  # created and auto-dispatched, each once
    result = audit.verify()
    assert result.ok, result.problem
    assert sum(e.action in ("case.create", "case.dispatch") for e in audit.list_entries(limit=None)) == 2 * n


def test_a_failing_report_fails_alone(city: None) -> None:
    jobs = [(_spread(k), DISPATCHER, True) for k in range(6)]
    jobs[2] = (_spread(2), OUTSIDER, True)  # may not create cases: refused inside the group
    bad = _spread(4)
    bad.extra["unserialisable"] = object()  # fails at the INSERT itself, after its savepoint began
    jobs[4] = (bad, DISPATCHER, True)
    answers = _together(jobs)
    assert isinstance(answers[2], PermissionDeniedError)
    assert isinstance(answers[4], Exception) and not isinstance(answers[4], tuple)
    good = [a for k, a in enumerate(answers) if k not in (2, 4)]
    assert all(isinstance(a, tuple) and a[1] for a in good)
    with session_scope() as s:
        refs = set(s.scalars(select(Case.source_ref)))
    assert refs == {"g0", "g1", "g3", "g5"}  # nothing of the failed reports, everything of the others
    assert audit.verify().ok


def test_the_same_report_twice_is_one_case(city: None) -> None:
    twice = _together([(_spread(1), DISPATCHER, True), (_spread(1), DISPATCHER, True)])
    (first, created1), (second, created2) = twice  # type: ignore[misc]
    assert first["id"] == second["id"] and sorted([created1, created2]) == [False, True]
    again, created = submit(_spread(1), DISPATCHER)  # and later, alone
    assert again["id"] == first["id"] and not created
    assert _count(Case) == 1 and audit.verify().ok


def test_concurrent_open311_posts_are_all_persisted_once(city: None) -> None:
    add_consumer("grid-app", "hotline")
    key = create_key("grid-app").key
    app = create_app()
    n = 16

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return list(await asyncio.gather(*(
                client.post("/open311/v2/requests.json",
                            data={"api_key": key, "service_code": "路灯", "description": f"路灯不亮 {k}",
                                  "lat": f"{28.15 + k * 0.002:.4f}", "long": f"{112.95 + k * 0.002:.4f}",
                                  "request_ref": f"dev-{k}"})
                for k in [*range(n), 3])))  # dev-3 twice: one case

    # a thread of its own: an earlier test in the same process (a browser test's sync API) may leave an
    # event loop running in this one, where asyncio.run refuses to start
    with ThreadPoolExecutor(1) as pool:
        answers = pool.submit(asyncio.run, post_all()).result()
    assert [r.status_code for r in answers] == [201] * (n + 1)
    ids = [r.json()[0]["service_request_id"] for r in answers]
    assert len(set(ids)) == n and ids[-1] == ids[3]
    assert _count(Case) == n
    assert audit.verify().ok


def test_open311_front_keeps_open311_errors(city: None) -> None:
    """Served before the app's routing, Open311 still answers every error in its own shape."""
    from fastapi.testclient import TestClient

    add_consumer("grid-app", "hotline")
    key = create_key("grid-app").key
    with TestClient(create_app()) as c:
        for path, data, status, words in (
                ("requests.json", {"service_code": "路灯", "lat": "28.2", "long": "112.98"}, 403, "api_key"),
                ("requests.json", {"api_key": key, "service_code": "井盖", "lat": "28.2", "long": "112.98"}, 404,
                 "井盖"),
                ("requests.csv", {"api_key": key}, 404, "not supported")):
            r = c.post(f"/open311/v2/{path}", data=data)
            assert r.status_code == status and [set(e) for e in r.json()] == [{"code", "description"}]
            assert r.json()[0]["code"] == status and words in r.json()[0]["description"]
        big = c.post("/open311/v2/requests.json", content=b"x" * 70_000,
                     headers={"content-type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413 and big.json()[0]["code"] == 413
        unknown = c.get("/open311/v2/nothing.json")  # not one of Open311's routes: the app's 404, Open311's shape
        assert unknown.status_code == 404 and set(unknown.json()[0]) == {"code", "description"}
        unknown = c.get("/open311/v2/nothing.xml")  # ... in the format the path asks for
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/xml")
        assert b"<errors><error><code>404</code>" in unknown.content
        assert c.get("/open311/v2/services.json").json()[0]["service_code"] == "路灯"
    assert _count(Case) == 0


def _post_from_a_loop(app: Any, forms: list[dict[str, str]]) -> Any:
    """Post `forms` at once from an event loop in a thread of its own (see the test above); a future of
    the responses."""
    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return list(await asyncio.gather(*(client.post("/open311/v2/requests.json", data=f) for f in forms)))

    pool = ThreadPoolExecutor(1)
    future = pool.submit(asyncio.run, post_all())
    pool.shutdown(wait=False)
    return future


def test_open311_posts_waiting_together_are_one_commit_and_a_bad_one_fails_alone(city: None,
                                                                                  commits: list[int]) -> None:
    """The front hands each POST to the intake writer whole (key, form, location): posts that wait
    together are one transaction, and a bad key, a malformed form or a point outside the city is that
    post's own Open311 error, not its group's."""
    add_consumer("grid-app", "hotline")
    key = create_key("grid-app").key
    app = create_app()
    good = [{"api_key": key, "service_code": "路灯", "description": f"路灯不亮 {k}",
             "lat": f"{28.15 + k * 0.002:.4f}", "long": f"{112.95 + k * 0.002:.4f}", "request_ref": f"w-{k}"}
            for k in range(6)]
    bad = [{**good[0], "api_key": "not-a-key", "request_ref": "bad-key"},
           {**good[0], "lat": "north", "request_ref": "bad-lat"},
           {**good[0], "lat": "40.0", "long": "116.4", "request_ref": "beijing"}]
    forms = [good[0], bad[0], *good[1:3], bad[1], *good[3:], bad[2]]
    with batch._WRITER:
        answers = _post_from_a_loop(app, forms)
        deadline = time.monotonic() + 30
        while len(batch._QUEUE) < len(forms) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(batch._QUEUE) == len(forms)
        before = len(commits)
    responses = answers.result(60)
    by_ref = {f["request_ref"]: r for f, r in zip(forms, responses, strict=True)}
    assert [by_ref[f"w-{k}"].status_code for k in range(6)] == [201] * 6
    assert by_ref["bad-key"].status_code == 403 and "API key" in by_ref["bad-key"].json()[0]["description"]
    assert by_ref["bad-lat"].status_code == 400 and "decimal degrees" in by_ref["bad-lat"].json()[0]["description"]
    assert by_ref["beijing"].status_code == 400 and "outside the city" in by_ref["beijing"].json()[0]["description"]
    assert len(commits) - before == 1  # the six good reports: one transaction
    with session_scope() as s:
        assert set(s.scalars(select(Case.source_ref))) == {f"grid-app/w-{k}" for k in range(6)}
    assert audit.verify().ok


def test_a_poster_that_goes_away_leaves_its_case_and_the_writer_working(city: None) -> None:
    """The client disconnects (its task is cancelled) while its report waits for the writer: the report is
    still committed once, sending it again finds it, and later posts are answered as before."""
    add_consumer("grid-app", "hotline")
    key = create_key("grid-app").key
    app = create_app()
    form = {"api_key": key, "service_code": "路灯", "description": "路灯不亮", "lat": "28.2", "long": "112.98",
            "request_ref": "gone-1"}

    async def post_and_leave() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            task = asyncio.ensure_future(client.post("/open311/v2/requests.json", data=form))
            while not batch._QUEUE:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with batch._WRITER, ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(post_and_leave(), 30)).result(60)
        writer = batch._THREAD[0]
    deadline = time.monotonic() + 30
    while _count(Case) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    again = _post_from_a_loop(app, [form, {**form, "request_ref": "gone-2"}]).result(60)
    assert [r.status_code for r in again] == [201, 201]
    assert batch._THREAD[0] is writer and writer.is_alive()  # answering a closed loop did not kill the writer
    with session_scope() as s:
        assert sorted(s.scalars(select(Case.source_ref))) == ["grid-app/gone-1", "grid-app/gone-2"]
    assert audit.verify().ok


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["answer"] = fn()
        except BaseException as exc:  # the caller's error is what is checked
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_a_report_whose_work_raises_systemexit_fails_alone_and_the_writer_goes_on(city: None) -> None:
    """(found by an outside review) A `SystemExit` from one async caller's work (a plugin giving up)
    ended the writer thread: a report queued meanwhile waited for ever, and the good reports of the same
    group failed with it. Now it is that report's own `RuntimeError`; the others are created."""
    in_prepare, b_queued = threading.Event(), threading.Event()

    def dying() -> Any:
        in_prepare.set()
        assert b_queued.wait(30)
        deadline = time.monotonic() + 30
        while not batch._QUEUE and time.monotonic() < deadline:  # B is in the queue now
            time.sleep(0.005)
        raise SystemExit("a plugin gave up")

    a, a_out = _in_thread(lambda: asyncio.run(batch.submit_async(dying)))
    assert in_prepare.wait(30)
    b, b_out = _in_thread(lambda: submit(_spread(1), DISPATCHER))
    time.sleep(0.2)  # B validates and locates, then queues
    b_queued.set()
    a.join(30)
    assert isinstance(a_out.get("error"), RuntimeError) and "SystemExit" in str(a_out["error"])
    b.join(30)
    assert not b.is_alive() and b_out["answer"][1] is True  # B: answered by the same writer, created
    with batch._WRITER:  # a good report grouped with a dying one is created all the same
        c, c_out = _in_thread(lambda: submit(_spread(2), DISPATCHER))
        d, d_out = _in_thread(lambda: asyncio.run(batch.submit_async(dying)))
        b_queued.set()
        deadline = time.monotonic() + 30
        while len(batch._QUEUE) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    c.join(30)
    d.join(30)
    assert c_out["answer"][1] is True and isinstance(d_out.get("error"), RuntimeError)
    assert _count(Case) == 2 and audit.verify().ok


def test_a_report_filed_from_the_writers_own_work_does_not_wedge_intake(city: None) -> None:
    """(found by an outside review) An async caller's work runs on the writer: a report it files with
    the blocking `submit` (a channel filing a companion report) waited for the writer, that is for
    itself, and every later report of the process behind it. It is committed on the spot instead."""
    def work() -> Any:
        submit(_spread(1), DISPATCHER)
        return _spread(2), DISPATCHER

    first, first_out = _in_thread(lambda: asyncio.run(asyncio.wait_for(batch.submit_async(work), 30)))
    first.join(40)
    later, later_out = _in_thread(lambda: submit(_spread(3), DISPATCHER))
    later.join(30)
    assert not later.is_alive() and later_out["answer"][1] is True
    assert first_out["answer"][1] is True
    with session_scope() as s:
        assert sorted(s.scalars(select(Case.source_ref))) == ["g1", "g2", "g3"]
    assert audit.verify().ok


def test_two_apps_with_the_same_request_ref_each_get_their_own_case(city: None) -> None:
    """(found by an outside review) `request_ref` is an app's own id: another app's `1` is another
    report. It was answered with the first app's case and dropped; the same app resending still gets
    its first case back."""
    from fastapi.testclient import TestClient

    add_consumer("grid-app", "hotline")
    add_consumer("other-app", "hotline")
    key_a, key_b = create_key("grid-app").key, create_key("other-app").key
    form = {"service_code": "路灯", "description": "路灯不亮", "lat": "28.2", "long": "112.98", "request_ref": "1"}
    with TestClient(create_app()) as c:
        a = c.post("/open311/v2/requests.json", data={**form, "api_key": key_a})
        b = c.post("/open311/v2/requests.json", data={**form, "api_key": key_b, "description": "井盖丢失",
                                                      "lat": "28.21", "long": "112.99"})
        again = c.post("/open311/v2/requests.json", data={**form, "api_key": key_a})
    assert a.status_code == b.status_code == again.status_code == 201
    ids = [r.json()[0]["service_request_id"] for r in (a, b, again)]
    assert ids[0] != ids[1] and ids[2] == ids[0]
    assert _count(Case) == 2
