"""The event bus (in-process and real NATS) and backpressure: a full queue blocks the feed, memory
stays bounded, and everything flows once the pipeline catches up."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from urbanbrain.core.bus import InProcessBus, NatsBus
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.stream import service
from urbanbrain.stream.feeds.base import Message
from urbanbrain.stream.feeds.http import HttpFeed
from urbanbrain.stream.pipeline import FeedRunner

from .helpers import air, ensure_dept, unique, wait_for


def test_in_process_bus_isolates_a_failing_subscriber() -> None:
    bus = InProcessBus()
    got: list[str] = []
    bus.subscribe("alerts.*", lambda t, p: 1 / 0)
    sub = bus.subscribe("alerts.*", lambda t, p: got.append(t))
    bus.publish("alerts.major", {"x": 1})
    sub.unsubscribe()
    bus.publish("alerts.minor", {"x": 2})
    assert got == ["alerts.major"]


def test_nats_bus_carries_events_between_connections() -> None:
    a, b = NatsBus("nats://127.0.0.1:4222"), NatsBus("nats://127.0.0.1:4222")
    got: list[tuple[str, dict[str, Any]]] = []
    done = threading.Event()
    topic = f"ubtest.{unique('bus')}"

    def handler(t: str, p: dict[str, Any]) -> None:
        got.append((t, p))
        done.set()

    b.subscribe(f"{topic}.>", handler)
    a.publish(f"{topic}.major", {"event": "raised", "n": 1})
    assert done.wait(10)
    assert got == [(f"{topic}.major", {"event": "raised", "n": 1})]
    a.close()
    b.close()


def test_full_queue_blocks_the_feed_until_the_pipeline_catches_up(tmp_path: Path) -> None:
    ensure_dept()
    name = unique("bp")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}), queue_size=10,
                        batch_messages=5, batch_seconds=0.2)
    delivered: list[int] = []

    def flood() -> None:  # the feed's thread: 60 messages into a queue of 10, no worker yet
        for i in range(60):
            runner.deliver(Message(json.dumps(air("loud", i)).encode()))
            delivered.append(i)

    producer = threading.Thread(target=flood, daemon=True)
    producer.start()
    time.sleep(1.0)
    assert runner.queue.qsize() == 10 and len(delivered) == 10  # blocked, not buffering without bound
    assert runner.lag == 10
    runner.start()  # the pipeline starts draining
    producer.join(timeout=60)
    wait_for(lambda: runner.stats.committed >= 60, what="the backlog to drain")
    runner.stop()
    assert runner.stats.readings == 60 and runner.lag == 0


def test_a_flooding_device_is_refused_and_counted_without_stopping_others(tmp_path: Path) -> None:
    ensure_dept()
    name = unique("flood")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    loud = [air("loud", i) for i in range(800)]  # 800 readings in one go, burst allowance 500
    quiet = [air(f"quiet-{k}", 0) for k in range(5)]
    runner.deliver(Message(json.dumps(loud + quiet).encode()))
    wait_for(lambda: runner.stats.readings >= 505 and runner.stats.dead_letters >= 290, what="the flood to be split")
    runner.stop()
    state = {d["device_id"] for d in service.live_state(SYSTEM, feed=name)}
    assert {f"quiet-{k}" for k in range(5)} <= state and "loud" in state
    (letter,) = service.dead_letters(SYSTEM, name)
    assert letter["device_id"] == "loud" and "flood" in letter["reason"]
    assert "readings over its limit" in letter["reason"]
    assert 290 <= service.feed_status(SYSTEM, name)["dead_letters"] == runner.stats.dead_letters <= 300
