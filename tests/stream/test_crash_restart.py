"""Nothing lost, nothing doubled: `urbanbrain stream` SIGKILLed twice while readings are published
(MQTT QoS 1 and JetStream), restarted, ends with every reading exactly once in history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.stream import service
from urbanbrain.stream.feeds.mqtt import MqttFeed

from .helpers import air, dumps, ensure_dept, mqtt_publish, nats_delete_stream, nats_publish, unique, wait_for

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
