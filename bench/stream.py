"""bench/stream: MQTT ingest into live state + durable history vs a bare paho subscriber.

In one run, against the local Mosquitto (QoS 0, the same publisher process and payloads for both):
(a) reference: a bare paho-mqtt subscriber that only counts messages;
(b) urbanbrain: a `FeedRunner` (the pipeline `urbanbrain stream` runs) ingesting the same
    AirQualityObserved readings (validated against the model) into live state and Iceberg history.
Prints msgs/s of both and the ratio, and the publish -> live-state latency p50/p99 at half of (b)'s
peak rate. Targets (issue 14): (b) >= 0.6 x (a), >= 50,000 readings/s, p99 <= 50 ms.

    .venv/bin/python bench/stream.py [--messages 50000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

PUBLISHER = r"""
import json, sys, time
import paho.mqtt.client as mqtt
topic, n, rate, devices = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
base = json.loads(sys.stdin.read())
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ub-bench-pub")
c.max_queued_messages_set(0)
c.connect("127.0.0.1", 1883)
c.loop_start()
start = time.perf_counter()
for i in range(n):
    base["id"] = f"dev-{i % devices}"
    base["pm25"] = float(i % 500)
    base["sent"] = time.time()
    base["dateObserved"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base["sent"] - 60)) + f".{i % 1000:03d}Z"
    c.publish(f"{topic}/{base['id']}", json.dumps(base), qos=0)
    if rate > 0:
        delay = start + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
time.sleep(1.0)
c.disconnect()
c.loop_stop()
"""


def _payload() -> dict[str, Any]:
    from urbanbrain.stream.schemas import model_example

    e = model_example("AirQualityObserved")
    e.pop("tsp", None)
    e.pop("address", None)
    return e


def _publish(topic: str, n: int, rate: float, devices: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic, str(n), str(rate), str(devices)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(_payload()).encode())
    proc.stdin.close()
    return proc


def reference(n: int, devices: int) -> float:
    """Bare paho subscriber: messages per second from first to last received."""
    import paho.mqtt.client as mqtt

    topic = f"ubbench/{uuid.uuid4().hex[:8]}"
    got = [0, 0.0, 0.0]
    done = threading.Event()

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        if got[0] == 0:
            got[1] = time.perf_counter()
        got[0] += 1
        got[2] = time.perf_counter()
        if got[0] >= n:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ub-bench-ref-{uuid.uuid4().hex[:6]}")
    c.on_message = on_message
    c.connect("127.0.0.1", 1883)
    c.subscribe(f"{topic}/+", qos=0)
    c.loop_start()
    time.sleep(0.5)
    pub = _publish(topic, n, 0, devices)
    pub.wait()
    done.wait(10)
    c.disconnect()
    c.loop_stop()
    print(f"  reference: received {got[0]:,} of {n:,}")
    return got[0] / max(got[2] - got[1], 1e-9)


def urbanbrain(n: int, devices: int, rate: float = 0.0) -> tuple[float, list[float], int]:
    """FeedRunner over MQTT QoS 0: readings/s into state + history; latencies from state events (ms)."""
    from urbanbrain.core.bus import InProcessBus
    from urbanbrain.core.errors import AlreadyExistsError
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.meta.departments import add_department
    from urbanbrain.stream import service
    from urbanbrain.stream.pipeline import FeedRunner

    with contextlib.suppress(AlreadyExistsError):
        add_department("Ecology", "ecology")
    tag = uuid.uuid4().hex[:8]
    name = f"bench-{tag}"
    topic = f"ubbench/{tag}"
    service.create_feed(SYSTEM, name, "ecology", "mqtt", {"url": "mqtt://127.0.0.1:1883", "topic": f"{topic}/+",
                                                         "qos": 0}, model="AirQualityObserved")
    bus = InProcessBus()
    latencies: list[float] = []

    def on_state(_t: str, p: dict[str, Any]) -> None:
        now = time.time()
        for ch in p["changes"]:
            sent = ch["attributes"].get("sent")
            if sent is not None:
                latencies.append((now - sent) * 1000)

    bus.subscribe("state.>", on_state)
    runner = FeedRunner(service.feed_config(name), Path(tempfile.mkdtemp()) / "j", bus=bus, batch_seconds=5.0)
    runner.start()
    time.sleep(0.5)
    pub = _publish(topic, n, rate, devices)
    first = None
    end = last_seen = time.perf_counter()
    seen = 0
    while True:  # until the publisher is done and nothing new arrived for 3 s
        if first is None and runner.stats.messages:
            first = time.perf_counter()
        if runner.stats.messages != seen:
            seen, end = runner.stats.messages, time.perf_counter()
            last_seen = end
        if pub.poll() is not None and time.perf_counter() - last_seen > 3.0:
            break
        time.sleep(0.02)
    runner.stop()
    readings = runner.stats.readings
    print(f"  urbanbrain: {readings:,} readings of {n:,} committed={runner.stats.committed:,}, "
          f"dead letters {runner.stats.dead_letters}")
    return runner.stats.messages / max(end - (first or end), 1e-9), latencies, readings


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--devices", type=int, default=1000)
    args = ap.parse_args(argv)
    os.environ.setdefault("URBANBRAIN_HOME", tempfile.mkdtemp(prefix="ub-bench-stream-"))
    ref = reference(args.messages, args.devices)
    ub, _, _ = urbanbrain(args.messages, args.devices)
    half = ub / 2
    _, lat, _ = urbanbrain(max(2000, int(half * 10)), args.devices, rate=half)
    lat.sort()
    p50 = lat[len(lat) // 2] if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99)] if lat else float("nan")
    ratio = ub / ref if ref else 0.0
    print(f"reference paho QoS0 : {ref:,.0f} msgs/s")
    print(f"urbanbrain stream   : {ub:,.0f} readings/s  (ratio {ratio:.2f}; target >= 0.6 and >= 50,000/s)")
    print(f"latency at {half:,.0f}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 50 ms)")
    return {"reference_msgs_s": ref, "urbanbrain_readings_s": ub, "ratio": ratio, "p50_ms": p50, "p99_ms": p99,
            "targets": {"ratio>=0.6": ratio >= 0.6, ">=50k/s": ub >= 50_000, "p99<=50ms": p99 <= 50}}


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.exit(0 if all(result["targets"].values()) else 1)
