"""bench/stream: MQTT and JetStream ingest into live state + durable history vs bare clients.

In one run, against the local Mosquitto and NATS (the same publisher and payloads for both sides):
MQTT, QoS 0, in two shapes: one AirQualityObserved reading per message, and `--per-message`
readings per message (a JSON array, as NGSI-LD batch notifications or a gateway send them):
  (a) reference: a bare paho-mqtt subscriber loop that only counts messages;
  (b) urbanbrain: a `FeedRunner` (the pipeline `urbanbrain stream` runs) validating every reading
      against the model into live state, the journal and Iceberg history (flushed at the end).
Then publish -> live-state latency p50/p99 at half of (b)'s batched peak, for `--soak` seconds, with
the process's resident memory sampled along the way. JetStream: N messages stored in a stream, consumed
by (a) a raw nats-py pull consumer that acknowledges each message and (b) the nats feed's FeedRunner.
Targets (issue 14): (b) >= 0.6 x (a), >= 50,000 readings/s, p99 <= 50 ms, memory flat.

    .venv/bin/python bench/stream.py [--readings 200000] [--per-message 100] [--soak 60] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
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
from typing import Any, ClassVar

# Message templates carry placeholders so the publisher's work per message is two byte replacements:
# the observation time (one per message, so (device, time) stays unique) and the send time.
PUBLISHER = r"""
import json, sys, time
from datetime import datetime, timedelta, timezone
import paho.mqtt.client as mqtt
topic, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
templates = [t.encode() for t in json.loads(sys.stdin.read())]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ub-bench-pub-" + topic.rsplit("/", 1)[-1])
c.max_queued_messages_set(0)
c.connect("127.0.0.1", 1883)
c.loop_start()
t0 = datetime.now(timezone.utc) - timedelta(hours=2)
start = time.perf_counter()
for i in range(n):
    obs = (t0 + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23].encode()
    body = templates[i % len(templates)].replace(b"@@OBSERVED@@@@@@@@@@@", obs).replace(
        b"1111111111.111111", b"%.6f" % time.time())
    c.publish(topic, body, qos=0)
    if rate > 0:
        delay = start + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
sent = time.perf_counter() - start
time.sleep(1.0)
c.disconnect()
c.loop_stop()
print(f"publisher: {n:,} messages in {sent:.2f} s ({n / sent:,.0f} msgs/s)", file=sys.stderr)
"""


def _entity() -> dict[str, Any]:
    from urbanbrain.stream.schemas import model_example

    e = model_example("AirQualityObserved")
    e.pop("tsp", None)
    e.pop("address", None)
    return e


def templates(per_message: int, devices: int) -> list[str]:
    """Messages of `per_message` readings each, for distinct devices, with placeholders."""
    base = _entity()
    out: list[str] = []
    groups = max(1, devices // per_message)
    for g in range(groups):
        items = []
        for k in range(per_message):
            d = g * per_message + k
            e = dict(base, id=f"dev-{d}", pm25=float(d % 500), dateObserved="@@OBSERVED@@@@@@@@@@@Z",
                     sent=1111111111.111111)
            items.append(e)
        out.append(json.dumps(items[0] if per_message == 1 else items))
    return out


def _publish(topic: str, n: int, rate: float, per_message: int, devices: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic, str(n), str(rate)], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(templates(per_message, devices)).encode())
    proc.stdin.close()
    return proc


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reference(n: int, per_message: int, devices: int) -> tuple[float, int]:
    """Bare paho subscriber: (messages per second from first to last received, messages received)."""
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
    c.subscribe(topic, qos=0)
    c.loop_start()
    time.sleep(0.5)
    cpu = time.process_time()
    pub = _publish(topic, n, 0, per_message, devices)
    pub.wait()
    done.wait(10)
    cpu = time.process_time() - cpu
    c.disconnect()
    c.loop_stop()
    print(f"  reference CPU: {cpu / max(got[0], 1) * 1e6:,.1f} us per message")
    return int(got[0]) / max(got[2] - got[1], 1e-9), int(got[0])


def _department() -> None:
    from urbanbrain.core.errors import AlreadyExistsError
    from urbanbrain.meta.departments import add_department

    with contextlib.suppress(AlreadyExistsError):
        add_department("Ecology", "ecology")


def urbanbrain(n: int, per_message: int, devices: int, rate: float = 0.0,
               profile: str | None = None) -> dict[str, Any]:
    """FeedRunner over MQTT QoS 0: messages and readings per second into live state (first to last
    message), the time until history is committed, latencies (ms) from state events, RSS samples."""
    from urbanbrain.core.bus import InProcessBus
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.stream import service
    from urbanbrain.stream.pipeline import FeedRunner

    _department()
    tag = uuid.uuid4().hex[:8]
    name = f"bench-{tag}"
    topic = f"ubbench/{tag}"
    service.create_feed(SYSTEM, name, "ecology", "mqtt", {"url": "mqtt://127.0.0.1:1883", "topic": topic,
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
    runner = FeedRunner(service.feed_config(name), Path(tempfile.mkdtemp()) / "j", bus=bus, batch_seconds=3.0)
    runner.start()
    time.sleep(0.5)
    profs: list[Any] = []
    if profile:  # the worker's batches and the committer's commits, each in its own thread
        import cProfile

        for attr in ("process", "_commit"):
            prof = cProfile.Profile()
            profs.append(prof)
            setattr(runner, attr, _profiled(getattr(runner, attr), prof))
    cpu0 = time.process_time()
    pub = _publish(topic, n, rate, per_message, devices)
    first = None
    end = last_seen = time.perf_counter()
    seen = 0
    memory: list[float] = [rss_mb()]
    last_sample = time.perf_counter()
    while True:  # until the publisher is done and nothing new arrived for 3 s
        if first is None and runner.stats.messages:
            first = time.perf_counter()
        if runner.stats.messages != seen:
            seen, end = runner.stats.messages, time.perf_counter()
            last_seen = end
        if time.perf_counter() - last_sample >= 5.0:
            memory.append(rss_mb())
            last_sample = time.perf_counter()
        if pub.poll() is not None and time.perf_counter() - last_seen > 3.0:
            break
        time.sleep(0.02)
    cpu1 = time.process_time()
    runner.stop()  # commits what is buffered
    durable = time.perf_counter()
    cpu2 = time.process_time()
    for i, prof in enumerate(profs):
        prof.dump_stats(f"{profile}.{('worker', 'commit')[i]}")
    span = max(end - (first or end), 1e-9)
    return {"messages": runner.stats.messages, "readings": runner.stats.readings,
            "committed": runner.stats.committed, "dead_letters": runner.stats.dead_letters,
            "msgs_s": runner.stats.messages / span, "readings_s": runner.stats.readings / span,
            "readings_s_durable": runner.stats.committed / max(durable - (first or durable), 1e-9),
            "latencies": sorted(latencies), "memory": memory,
            "cpu_us_live": (cpu1 - cpu0) / max(runner.stats.readings, 1) * 1e6,
            "cpu_us_durable": (cpu2 - cpu0) / max(runner.stats.readings, 1) * 1e6}


class _NoBroker:
    """A feed that delivers nothing by itself: `offline` hands messages to the pipeline directly."""

    kind: ClassVar[str] = "none"

    def test(self) -> None:
        return None

    def start(self, deliver: Any) -> None:
        return None

    def stop(self) -> None:
        return None

    def lag(self) -> int | None:
        return None


def offline(n: int, per_message: int, devices: int) -> dict[str, float]:
    """The pipeline alone (no broker, no network thread): CPU seconds of this process per reading up
    to live state and including the final history + rollup commit. CPU time, unlike wall time, is
    not inflated by the other processes of a shared machine."""
    from datetime import UTC, datetime, timedelta

    from urbanbrain.core.bus import InProcessBus
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.stream import service
    from urbanbrain.stream.feeds.base import Message
    from urbanbrain.stream.pipeline import FeedRunner

    _department()
    name = f"bench-off-{uuid.uuid4().hex[:8]}"
    service.create_feed(SYSTEM, name, "ecology", "mqtt", {"url": "mqtt://127.0.0.1:1883", "topic": "none/x",
                                                         "qos": 0}, model="AirQualityObserved")
    tpl = [t.encode() for t in templates(per_message, devices)]
    t0 = datetime.now(UTC) - timedelta(hours=2)
    msgs = [tpl[i % len(tpl)].replace(b"@@OBSERVED@@@@@@@@@@@", (t0 + timedelta(milliseconds=i)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:23].encode()).replace(b"1111111111.111111", b"%.6f" % time.time())
        for i in range(n // per_message)]
    runner = FeedRunner(service.feed_config(name), Path(tempfile.mkdtemp()) / "j", bus=InProcessBus(),
                        batch_seconds=3.0, feed=_NoBroker())
    runner.start()
    cpu0 = time.process_time()
    for m in msgs:
        runner.deliver(Message(m))
    while runner.stats.messages < len(msgs):
        time.sleep(0.005)
    cpu1 = time.process_time()
    runner.stop()
    cpu2 = time.process_time()
    done = max(runner.stats.readings, 1)
    return {"live_us": (cpu1 - cpu0) / done * 1e6, "durable_us": (cpu2 - cpu0) / done * 1e6,
            "readings": runner.stats.readings}


def _profiled(fn: Any, prof: Any) -> Any:
    def run(*args: Any) -> Any:
        prof.enable()
        try:
            return fn(*args)
        finally:
            prof.disable()
    return run


# --- JetStream ---------------------------------------------------------------------------------


async def _js_fill(stream: str, subject: str, n: int) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{subject}.>"])
    body = templates(1, 1)[0]
    t0 = time.time() - 7200
    for i in range(n):
        obs = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i // 1000)) + f".{i % 1000:03d}"
        await nc.publish(f"{subject}.dev-{i % 5000}", body.replace("@@OBSERVED@@@@@@@@@@@", obs)
                         .replace("dev-0", f"dev-{i % 5000}").encode())
        if i % 5000 == 0:
            await nc.flush()
    await nc.flush()
    while (await js.stream_info(stream)).state.messages < n:
        await asyncio.sleep(0.1)
    await nc.close()


async def _js_raw(stream: str, subject: str, n: int) -> float:
    import nats
    from nats.errors import TimeoutError as NatsTimeout

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"{subject}.>", durable="raw", stream=stream)
    got, start = 0, time.perf_counter()
    while got < n:
        try:
            msgs = await sub.fetch(1000, timeout=2.0)
        except (TimeoutError, NatsTimeout):
            break
        for m in msgs:
            await m.ack()
        got += len(msgs)
    rate = got / (time.perf_counter() - start)
    await nc.close()
    return rate


async def _js_drop(stream: str) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(stream)
    await nc.close()


def jetstream(n: int) -> tuple[float, float, int]:
    """(raw consumer msgs/s, urbanbrain msgs/s, urbanbrain readings) over the same stored messages."""
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.stream import service
    from urbanbrain.stream.pipeline import FeedRunner

    _department()
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"UBBENCH_{tag}".upper(), f"ubbench.{tag}"
    asyncio.run(_js_fill(stream, subject, n))
    try:
        raw = asyncio.run(_js_raw(stream, subject, n))
        name = f"bench-js-{tag}"
        service.create_feed(SYSTEM, name, "ecology", "nats", {"url": "nats://127.0.0.1:4222", "stream": stream,
                                                             "subject": f"{subject}.>", "durable": "ub"},
                            model="AirQualityObserved")
        runner = FeedRunner(service.feed_config(name), Path(tempfile.mkdtemp()) / "j", batch_seconds=3.0)
        start = time.perf_counter()
        runner.start()
        deadline = start + 600
        while runner.stats.messages < n and time.perf_counter() < deadline:
            time.sleep(0.01)
        took = time.perf_counter() - start
        runner.stop()
        return raw, runner.stats.messages / took, runner.stats.readings
    finally:
        asyncio.run(_js_drop(stream))


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=200_000, help="readings per batched run")
    ap.add_argument("--single", type=int, default=40_000, help="messages in the one-reading-per-message run")
    ap.add_argument("--per-message", type=int, default=100)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--soak", type=float, default=60.0, help="seconds of the latency / memory run")
    ap.add_argument("--jetstream", type=int, default=50_000)
    ap.add_argument("--offline", type=int, default=60_000, help="readings through the pipeline alone")
    ap.add_argument("--profile", default=None, help="write a cProfile of the batched run here")
    args = ap.parse_args(argv)
    os.environ.setdefault("URBANBRAIN_HOME", tempfile.mkdtemp(prefix="ub-bench-stream-"))
    print(f"load: {os.getloadavg()}")
    k = args.per_message
    out: dict[str, Any] = {}

    for per in (1, k):
        off = offline(args.offline, per, args.devices)
        print(f"[pipeline alone, {per} reading(s)/msg, {off['readings']:,} readings] CPU {off['live_us']:.1f} us "
              f"per reading to live state, {off['durable_us']:.1f} incl. the final history + rollup commit "
              f"= {1e6 / off['durable_us']:,.0f} readings per CPU-second")
        out[f"offline_{per}"] = off
    ref1, got1 = reference(args.single, 1, args.devices)
    ub1 = urbanbrain(args.single, 1, args.devices)
    print(f"[1 reading/msg]  paho {ref1:,.0f} msgs/s (got {got1:,})  urbanbrain {ub1['msgs_s']:,.0f} msgs/s "
          f"= {ub1['readings_s']:,.0f} readings/s (got {ub1['messages']:,}, committed {ub1['committed']:,}, "
          f"dead letters {ub1['dead_letters']})  ratio {ub1['msgs_s'] / ref1:.2f}; CPU {ub1['cpu_us_live']:.1f} us "
          f"per reading ({ub1['cpu_us_durable']:.1f} with the final commit)")
    nk = args.readings // k
    refk, gotk = reference(nk, k, args.devices)
    ubk = urbanbrain(nk, k, args.devices, profile=args.profile)
    print(f"[{k} readings/msg] paho {refk:,.0f} msgs/s = {refk * k:,.0f} readings/s (got {gotk:,})  urbanbrain "
          f"{ubk['msgs_s']:,.0f} msgs/s = {ubk['readings_s']:,.0f} readings/s into live state "
          f"(got {ubk['messages']:,} msgs, committed {ubk['committed']:,}; {ubk['readings_s_durable']:,.0f}/s "
          f"to committed history incl. the final flush)  ratio {ubk['msgs_s'] / refk:.2f}; CPU "
          f"{ubk['cpu_us_live']:.1f} us per reading ({ubk['cpu_us_durable']:.1f} with the final commit) = "
          f"{1e6 / max(ubk['cpu_us_durable'], 1e-9):,.0f} readings per CPU-second")
    half = ubk["msgs_s"] / 2
    lat = urbanbrain(max(100, int(half * args.soak)), k, args.devices, rate=half)
    ls = lat["latencies"]
    mem = lat["memory"]
    print(f"[latency at {half * k:,.0f} readings/s for {args.soak:g} s] p50 {_pct(ls, 0.5):.1f} ms, "
          f"p99 {_pct(ls, 0.99):.1f} ms, max {ls[-1] if ls else float('nan'):.1f} ms over {len(ls):,} state "
          f"changes; RSS MB start {mem[0]:.0f} max {max(mem):.0f} end {mem[-1]:.0f} "
          f"(samples {[round(m) for m in mem]})")
    raw, ubjs, _ = jetstream(args.jetstream)
    print(f"[JetStream {args.jetstream:,} stored msgs] raw nats-py pull+ack {raw:,.0f} msgs/s  urbanbrain "
          f"{ubjs:,.0f} msgs/s  ratio {ubjs / raw:.2f}")
    print(f"load: {os.getloadavg()}")
    out |= {"single": {"ref_msgs_s": ref1, "ub_msgs_s": ub1["msgs_s"], "ratio": ub1["msgs_s"] / ref1},
           "batched": {"ref_msgs_s": refk, "ub_msgs_s": ubk["msgs_s"], "ub_readings_s": ubk["readings_s"],
                       "ratio": ubk["msgs_s"] / refk},
           "p99_ms": _pct(ls, 0.99), "rss_mb": mem, "jetstream": {"raw": raw, "ub": ubjs, "ratio": ubjs / raw}}
    out["targets"] = {"ratio>=0.6": out["batched"]["ratio"] >= 0.6, ">=50k readings/s": ubk["readings_s"] >= 50_000,
                      "p99<=50ms": out["p99_ms"] <= 50}
    return out


if __name__ == "__main__":
    result = main(sys.argv[1:])
    print(json.dumps(result["targets"]))
    sys.exit(0 if all(result["targets"].values()) else 1)
