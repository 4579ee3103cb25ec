"""Several serving processes share the feeds: each MQTT/NATS feed runs in the one process holding its lease
`feed:<name>`; when that process lets go, another takes the feed over."""

from __future__ import annotations

import uuid

from urbanbrain.govern.principals import SYSTEM
from urbanbrain.meta import leases
from urbanbrain.stream import service
from urbanbrain.stream.runner import StreamProcess

from .helpers import ensure_dept, unique


def test_a_feed_runs_in_one_process_at_a_time() -> None:
    ensure_dept()
    name = unique("shared")
    service.create_feed(SYSTEM, name, "ecology", "mqtt",
                        {"url": "mqtt://127.0.0.1:1883", "topic": f"ubshare/{uuid.uuid4().hex[:8]}/+"},
                        model="AirQualityObserved")
    first, second = StreamProcess([name]), StreamProcess([name])
    try:
        first.poll()
        second.poll()
        assert list(first.runners) == [name] and second.runners == {}
        assert [h.name for h in leases.current("feed:")] == [f"feed:{name}"]
        first._release(name)  # as when the first process stops
        second.poll()
        assert list(second.runners) == [name]
    finally:
        for proc in (first, second):
            for feed in list(proc.runners):
                proc._release(feed)
    assert leases.current("feed:") == []
