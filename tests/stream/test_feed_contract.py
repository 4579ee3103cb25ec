"""One contract for every feed kind, on the real Mosquitto (1883) and NATS JetStream (4222).

Each kind delivers the same readings (plus one malformed message): all land exactly once in the
history dataset, the live state holds each device's latest values, the malformed message is a
counted dead letter with its reason, and a broker that does not answer is a clear, transient error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from urbanbrain.core.errors import SourceUnreachableError
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.stream import service
from urbanbrain.stream.feeds.base import FEEDS, Feed, open_feed
from urbanbrain.stream.feeds.http import push
from urbanbrain.stream.pipeline import FeedRunner

from .helpers import air, dumps, ensure_dept, history_rows, mqtt_publish, nats_publish, unique, wait_for

DEVICES = 5
PER_DEVICE = 8


@dataclass
class Kind:
    name: str
    kind: str
    options: Callable[[str], dict[str, Any]]
    publish: Callable[[str, dict[str, Any], list[bytes]], None]
    down: dict[str, Any]


def _mqtt(version: str, qos: int) -> Kind:
    return Kind(f"mqtt-{version}-qos{qos}", "mqtt",
                lambda tag: {"url": "mqtt://127.0.0.1:1883", "topic": f"ubtest/{tag}/+", "qos": qos,
                             "version": version},
                lambda tag, opts, payloads: mqtt_publish(lambda i: f"ubtest/{tag}/d{i % DEVICES}", payloads, qos),
                {"url": "mqtt://127.0.0.1:1", "topic": "x", "timeout": 2})


def _nats_publish(tag: str, opts: dict[str, Any], payloads: list[bytes]) -> None:
    nats_publish(lambda i: f"ubtest.{tag}.d{i % DEVICES}", payloads, opts["stream"], opts["subject"])


KINDS = [
    _mqtt("3.1.1", 1),
    _mqtt("5", 1),
    _mqtt("3.1.1", 0),
    Kind("nats", "nats", lambda tag: {"url": "nats://127.0.0.1:4222", "subject": f"ubtest.{tag}.>",
                                      "stream": f"UBTEST_{tag.upper()}"},
         _nats_publish, {"url": "nats://127.0.0.1:1", "subject": "x.>", "timeout": 2}),
    Kind("http", "http", lambda tag: {}, lambda tag, opts, payloads: [push(opts["_feed"], p) for p in payloads], {}),
]


def test_every_kind_is_registered() -> None:
    assert {"mqtt", "nats", "http"} <= set(FEEDS.names())
    for k in KINDS:
        assert isinstance(open_feed(k.kind, "x", k.options("x")), Feed)


@pytest.fixture(params=KINDS, ids=lambda k: k.name)
def kind(request: pytest.FixtureRequest) -> Iterator[Kind]:
    yield request.param


def test_contract(kind: Kind, tmp_path: Path) -> None:
    ensure_dept()
    tag = uuid.uuid4().hex[:8]
    name = unique("feed")
    opts = kind.options(tag)
    service.create_feed(SYSTEM, name, "ecology", kind.kind, opts, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "journal", batch_seconds=0.2)
    runner.start()
    try:
        readings = [dumps(air(f"air-{i % DEVICES}", i // DEVICES, pm25=float(i))) for i in range(DEVICES * PER_DEVICE)]
        kind.publish(tag, {**opts, "_feed": name}, [*readings, b"{not json"])
        wait_for(lambda: runner.stats.committed >= DEVICES * PER_DEVICE and runner.stats.dead_letters >= 1,
                 what="all readings committed")
    finally:
        runner.stop()
    dataset = f"ecology.{name.replace('-', '_')}.observations"
    rows = history_rows(dataset)
    assert len(rows) == DEVICES * PER_DEVICE
    assert len({(d, t) for d, t, _ in rows}) == DEVICES * PER_DEVICE
    state = {d["device_id"]: d for d in service.live_state(SYSTEM, feed=name)}
    assert sorted(state) == [f"air-{i}" for i in range(DEVICES)]
    last = DEVICES * (PER_DEVICE - 1)
    assert state["air-0"]["attributes"]["pm25"]["value"] == float(last)
    assert state["air-0"]["lon"] == pytest.approx(-3.7122, abs=1e-3)
    letters = service.dead_letters(SYSTEM, name)
    assert len(letters) == 1 and "malformed JSON" in letters[0]["reason"] and letters[0]["raw"] == "{not json"
    status = service.feed_status(SYSTEM, name)
    assert status["dead_letters"] == 1 and status["readings"] == DEVICES * PER_DEVICE


def test_broker_down_is_a_clear_transient_error(kind: Kind) -> None:
    if not kind.down:
        pytest.skip("HTTP push has no broker to reach")
    feed = open_feed(kind.kind, unique("down"), kind.down)
    with pytest.raises(SourceUnreachableError) as err:
        feed.test()
    assert "127.0.0.1:1" in str(err.value) and err.value.transient
