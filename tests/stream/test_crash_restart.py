"""Nothing lost, nothing doubled: `urbanbrain stream` SIGKILLed twice while readings are published
(MQTT QoS 1 and JetStream), restarted, ends with every reading exactly once in history and every
device in live state; and the two crash points between a history commit and the state save, in process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.stream import service
from urbanbrain.stream.feeds.http import HttpFeed, push
from urbanbrain.stream.feeds.mqtt import MqttFeed
from urbanbrain.stream.pipeline import FeedRunner

from .helpers import (
    air,
    dumps,
    ensure_dept,
    history_rows,
    mqtt_publish,
    nats_delete_stream,
    nats_publish,
    unique,
    wait_for,
)

N = 400
DEVICES = 20


def _count(dataset: str) -> tuple[int, int]:
    try:
        t = run_query(f"SELECT count(*) AS n, count(DISTINCT (device_id, observed_at)) AS k FROM {dataset}",
                      principal=SYSTEM).table.to_pylist()[0]
    except Exception:
        return 0, 0
    return int(t["n"]), int(t["k"])


def _start(feed: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "urbanbrain.cli.main", "stream", "--feed", feed,
                             "--batch-seconds", "0.3"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env=dict(os.environ))


@pytest.mark.parametrize("kind", ["mqtt", "nats"])
def test_sigkill_and_restart_keeps_every_reading_exactly_once(kind: str, tmp_path: Path) -> None:
    ensure_dept()
    tag = uuid.uuid4().hex[:8]
    name = unique("crash")
    if kind == "mqtt":
        opts = {"url": "mqtt://127.0.0.1:1883", "topic": f"ubcrash/{tag}/+", "qos": 1}
    else:
        opts = {"url": "nats://127.0.0.1:4222", "subject": f"ubcrash.{tag}.>", "stream": f"UBCRASH_{tag.upper()}"}
    service.create_feed(SYSTEM, name, "ecology", kind, opts, model="AirQualityObserved")
    if kind == "mqtt":  # the persistent session must exist before the first publish, as in production
        primer = MqttFeed(name, opts)
        primer.start(lambda m: None)
        primer.stop()
    dataset = f"ecology.{name.replace('-', '_')}.observations"
    payloads = [dumps(air(f"dev-{i % DEVICES}", i // DEVICES, pm25=float(i))) for i in range(N)]

    def publish() -> None:
        for start in range(0, N, 50):
            chunk = payloads[start:start + 50]
            if kind == "mqtt":
                mqtt_publish(lambda i, s=start: f"ubcrash/{tag}/dev{(s + i) % DEVICES}", chunk, qos=1)
            else:
                nats_publish(lambda i, s=start: f"ubcrash.{tag}.dev{(s + i) % DEVICES}", chunk, opts["stream"],
                             opts["subject"])
            time.sleep(0.15)

    log = tmp_path / "stream.log"
    proc = _start(name, log)
    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        for _ in range(2):  # kill at some moment while publishing, once the process has taken something
            first = _count(dataset)[0]
            wait_for(lambda f=first: _count(dataset)[0] > f or not publisher.is_alive(), timeout=60,
                     what="progress before the kill")
            time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc = _start(name, log)
        publisher.join(timeout=120)
        wait_for(lambda: _count(dataset)[0] >= N, timeout=90, what=f"{N} readings in history")
        time.sleep(1.0)  # anything doubled would land now
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if kind == "nats":
            nats_delete_stream(opts["stream"])
    n, distinct = _count(dataset)
    assert (n, distinct) == (N, N), log.read_text()[-3000:]
    state = service.live_state(SYSTEM, feed=name)
    assert len(state) == DEVICES


def _started(prefix: str, tmp_path: Path) -> tuple[str, FeedRunner]:
    """A new HTTP feed of air readings and its runner, started on a journal in `tmp_path`."""
    ensure_dept()
    name = unique(prefix)
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    return name, runner


def _push(runner: FeedRunner, name: str, body: bytes, total: int) -> None:
    """POST `body` to the feed and wait until the runner has applied `total` readings in all."""
    push(name, body)
    wait_for(lambda: runner.stats.readings == total, what=f"{total} readings applied")


def _abandon(runner: FeedRunner) -> None:
    """What SIGKILL leaves: the threads stop where they are, nothing is flushed or saved."""
    runner.feed.stop()
    runner._stop.set()
    if runner._worker is not None:
        runner._worker.join(timeout=30)
    runner.journal.close()


def _pm25(name: str) -> dict[str, float]:
    return {d["device_id"]: d["attributes"]["pm25"]["value"] for d in service.live_state(SYSTEM, feed=name)}


def test_state_saved_less_often_than_history_catches_up_after_a_crash(tmp_path: Path) -> None:
    """History commits every batch; changes of known devices reach the saved state only every few
    seconds. A crash in between left state behind history for good (the readings were journaled,
    acknowledged and committed, so nothing redelivered them): the restart applies them from the journal."""
    name, runner = _started("stategap", tmp_path)
    _push(runner, name, dumps([air("s1", 0, pm25=3.0), air("s2", 0, pm25=4.0)]), 2)
    runner.flush()
    assert _pm25(name) == {"s1": 3.0, "s2": 4.0}
    _push(runner, name, dumps([air("s1", 1, pm25=9.0), air("s1", 2, pm25=10.0)]), 4)
    runner._commit_in_background()  # the worker's own timed commit: history yes, state not yet
    assert runner._committer is not None
    runner._committer.join()
    assert runner.stats.committed == 4 and _pm25(name)["s1"] == 3.0
    _abandon(runner)

    again = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    again.start()
    try:
        assert _pm25(name) == {"s1": 10.0, "s2": 4.0}  # saved by the restart's flush
        assert again.stats.committed == 0  # state only: nothing written to history twice
    finally:
        again.stop()
    assert len(history_rows(f"ecology.{name.replace('-', '_')}.observations")) == 4
    service.delete_feed(SYSTEM, name, purge=True)


def test_state_never_saved_before_the_crash_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    """The first commit's history landed and the process died before its state save (the window
    the SIGKILL test above hit on a loaded machine): every device comes back."""
    name, runner = _started("statenew", tmp_path)
    _push(runner, name, dumps([air(f"n{i}", 0, pm25=float(i)) for i in range(5)]), 5)
    runner.history.commit(runner.journal.position)  # history's commit, then the kill before `state.save`
    _abandon(runner)
    assert service.live_state(SYSTEM, feed=name) == []

    again = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    again.start()
    again.stop()
    assert _pm25(name) == {f"n{i}": float(i) for i in range(5)}
    assert len(history_rows(f"ecology.{name.replace('-', '_')}.observations")) == 5
    service.delete_feed(SYSTEM, name, purge=True)


def test_journal_keeps_a_generation_until_history_and_state_are_both_past_it(tmp_path: Path) -> None:
    from urbanbrain.stream.journal import Journal

    j = Journal(tmp_path)
    j.append([{"d": "a"}])
    j.state_saved(j.position)
    j.rotate()
    j.append([{"d": "b"}])
    j.committed(j.position)  # history is past generation 1, the saved state is not
    assert j.generations() == [1, 2]
    j.state_saved(j.position)
    assert j.generations() == [2]
    j.close()
    assert Journal(tmp_path).state_position == "2:" + str(len(b'[{"d":"b"}]\n'))  # read back after a restart


def _logged(caplog: pytest.LogCaptureFixture, words: str) -> bool:
    """The failure was reported (the feed's `error` is not checked: the worker clears it after every
    batch it processes, so a committer's error can be gone before a test reads it)."""
    return any(r.exc_info is not None and words in str(r.exc_info[1]) for r in caplog.records)


def _fail_once(monkeypatch: pytest.MonkeyPatch, where: str = "state") -> None:
    """The metadata database refuses the next transaction of the `where` module of `urbanbrain.stream`
    (a restart, a failover, a lock timeout): the state save, or the pipeline's feed counters."""
    import importlib

    state_mod = importlib.import_module(f"urbanbrain.stream.{where}")
    real = state_mod.session_scope
    calls = {"n": 0}

    def flaky(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("metadata database unavailable")
        return real(*a, **k)

    monkeypatch.setattr(state_mod, "session_scope", flaky)


def test_a_failed_state_save_is_not_covered_by_the_next_state_position(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A failed state save leaves its devices dirty and the recorded state position where it was: the
    next save writes them, and a crash before it replays their readings (found by an outside review:
    the dirty set was cleared before the write and the next save's position passed them)."""
    name, runner = _started("savefail", tmp_path)
    _push(runner, name, dumps([air("s1", 0, pm25=3.0)]), 1)
    runner.flush()
    assert _pm25(name) == {"s1": 3.0}
    _push(runner, name, dumps([air("s1", 1, pm25=9.0)]), 2)
    _fail_once(monkeypatch)
    runner.flush()  # history committed, the state save failed: the feed's error, the devices dirty again
    assert _logged(caplog, "metadata database unavailable")
    _push(runner, name, dumps([air("s2", 2, pm25=4.0)]), 3)
    runner.flush()  # saves s2 only; state-position now past s1's 9.0
    _abandon(runner)

    again = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    again.start()
    again.stop()
    assert _pm25(name) == {"s1": 9.0, "s2": 4.0}
    service.delete_feed(SYSTEM, name, purge=True)


@pytest.mark.parametrize("where", ["state", "pipeline"])
def test_a_failure_after_a_background_commit_does_not_double_history(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Only a failed history commit puts its rows back in the buffer: a failure after it (the state save,
    the state position, the feed's counters) must not write the same rows again at the next commit."""
    name, runner = _started("savedup", tmp_path)
    try:
        _push(runner, name, dumps([air("d1", 0, pm25=1.0), air("d2", 0, pm25=2.0)]), 2)
        _fail_once(monkeypatch, where)
        runner._commit_in_background()  # new devices: the committer saves state right after history
        assert runner._committer is not None
        runner._committer.join()
        assert _logged(caplog, "metadata database unavailable")
    finally:
        runner.stop()
    assert len(history_rows(f"ecology.{name.replace('-', '_')}.observations")) == 2
    service.delete_feed(SYSTEM, name, purge=True)


def test_an_unreadable_state_position_does_not_stop_the_feed_for_good(tmp_path: Path) -> None:
    """A state-position file that is not `<gen>:<offset>` (a disk error, an operator's edit) is ignored
    with a warning: the whole journal kept is replayed into state, and the feed starts."""
    name, runner = _started("badpos", tmp_path)
    _push(runner, name, dumps([air("b1", 0, pm25=1.0)]), 1)
    runner.history.commit(runner.journal.position)
    _abandon(runner)
    (tmp_path / "j" / "state-position").write_text("3:")
    again = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    try:
        again.start()
    finally:
        again.stop()
    assert _pm25(name) == {"b1": 1.0}
    service.delete_feed(SYSTEM, name, purge=True)


def test_a_failed_history_commit_shows_on_the_feed_until_a_commit_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committer's failure stays on the feed (`last_error`) — the worker's own error is cleared by the
    next good batch, which hid a failing lake from the feed page — and goes with the next good commit."""
    name, runner = _started("lakefail", tmp_path)
    try:
        _push(runner, name, dumps([air("h1", 0, pm25=1.0)]), 1)
        real = runner.history.commit_rows

        def full(*a: Any, **k: Any) -> Any:
            raise OSError("No space left on device")

        monkeypatch.setattr(runner.history, "commit_rows", full)
        runner._commit_in_background()
        assert runner._committer is not None
        runner._committer.join()
        _push(runner, name, dumps([air("h1", 1, pm25=2.0)]), 2)  # a good batch meanwhile: the error stays
        assert "No space left on device" in (service.feed_status(SYSTEM, name)["last_error"] or "")
        monkeypatch.setattr(runner.history, "commit_rows", real)
        runner._commit_in_background()
        runner._committer.join()
        assert service.feed_status(SYSTEM, name)["last_error"] is None
    finally:
        runner.stop()
    assert len(history_rows(f"ecology.{name.replace('-', '_')}.observations")) == 2  # the failed rows too, once
    service.delete_feed(SYSTEM, name, purge=True)
