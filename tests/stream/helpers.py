"""Shared helpers for the stream tests: unique names, publishers for the real brokers, waiting."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from urbanbrain.core.aio import run_coroutine
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.meta.departments import add_department
from urbanbrain.stream.schemas import model_example

BASE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ensure_dept(code: str = "ecology") -> str:
    from urbanbrain.core.errors import AlreadyExistsError

    with contextlib.suppress(AlreadyExistsError):
        add_department(code.title(), code)
    return code


def air(device: str, i: int, pm25: float | None = None, **extra: Any) -> dict[str, Any]:
    """A key-values AirQualityObserved reading of `device`, the i-th minute after BASE."""
    e = model_example("AirQualityObserved")
    e.pop("tsp", None)  # the upstream example has tsp 73.3 where the schema says integer
    e.update(id=device, dateObserved=(BASE + timedelta(minutes=i)).isoformat(), pm25=float(i if pm25 is None else pm25))
    e.update(extra)
    return e


def mqtt_publish(topic_of: Callable[[int], str], payloads: list[bytes], qos: int = 1) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("ub-test-pub"))
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    try:
        infos = [c.publish(topic_of(i), p, qos=qos) for i, p in enumerate(payloads)]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        c.disconnect()
        c.loop_stop()


def nats_publish(subject_of: Callable[[int], str], payloads: list[bytes], stream: str, subjects: str) -> None:
    import nats

    async def run() -> None:
        nc = await nats.connect("nats://127.0.0.1:4222")
        js = nc.jetstream()
        try:
            await js.stream_info(stream)
        except Exception:
            await js.add_stream(name=stream, subjects=[subjects])
        for i, p in enumerate(payloads):
            await js.publish(subject_of(i), p)
        await nc.close()

    run_coroutine(run())


def nats_delete_stream(stream: str) -> None:
    import nats

    async def run() -> None:
        nc = await nats.connect("nats://127.0.0.1:4222")
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream)
        await nc.close()

    run_coroutine(run())


def wait_for(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `check`: the timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def history_rows(name: str) -> list[tuple[Any, ...]]:
    from urbanbrain.govern.query import run_query

    res = run_query(f"SELECT device_id, observed_at, pm25 FROM {name} ORDER BY 1, 2", principal=SYSTEM)
    return [tuple(r.values()) for r in res.table.to_pylist()]


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()
