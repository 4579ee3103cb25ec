"""The demo city's sensors publishing live: air stations, traffic detectors, buses, parking bays, street
lights and water-level gauges report every few seconds as FIWARE Smart Data Models entities.

`urbanbrain demo` (serving) registers six feeds through the same service functions as `urbanbrain feed
add` and `urbanbrain rule add`, then publishes: over MQTT when Mosquitto answers on 127.0.0.1:1883
(the feeds are `mqtt` feeds, consumed by the stream runner in the serving process), otherwise as HTTP
push feeds fed in-process, so the demo shows a live city with no server installed. A feed registered
with the other kind on an earlier run is re-registered (its short demo history goes with it).

Readings are a pure function of (seed, device, time), like `sensors.py`, whose daily cycles they reuse:
the values at the current sensor step, with a little jitter per tick so the map moves. Faults are
built in so alerts flow: one air station downwind of a construction site (PM2.5 over 75 for about 18
minutes in every 30), detectors that go quiet for a 10-minute slot now and then, one river gauge whose
level rises over 3.5 m for part of every 40 minutes, and a few defective street lamps.

Water-level gauges are `EnvironmentObserved` entities with a `waterLevel` attribute (metres): the
Smart Data Models shipped with urbanbrain (`stream/models/`) have no water-level model of their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from urbanbrain.demo import geo, sensors

log = logging.getLogger(__name__)
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
LOCAL = timedelta(hours=8)  # Changsha's time: lights and parking follow the local day


@dataclass(frozen=True)
class DemoFeed:
    name: str
    department: str
    model: str
    part: str  # the topic segment: urbanbrain/<install>/<part>/<device>/observed
    rules: tuple[tuple[str, str, str], ...] = ()  # (name, when, severity)


FEEDS = (
    DemoFeed("air-stations", "ecology", "AirQualityObserved", "air", (("pm25-high", "pm25 > 75 for 10m", "major"),)),
    DemoFeed("traffic-flow", "transport", "TrafficFlowObserved", "traffic",
             (("detector-silent", "silent 2m", "minor"),)),
    DemoFeed("bus-positions", "transport", "Vehicle", "bus"),
    DemoFeed("parking-bays", "transport", "ParkingSpot", "parking"),
    DemoFeed("street-lights", "urban", "Streetlight", "lights", (("lamp-defective", "lampFault == 1", "warning"),)),
    DemoFeed("water-gauges", "emergency", "EnvironmentObserved", "water",
             (("water-high", "waterLevel > 3.5", "major"),)),
)
N_PARKING, N_LIGHTS = 60, 80
GAUGES = (("WL001", "湘江·橘子洲", 112.955, 28.190), ("WL002", "湘江·三汊矶", 112.962, 28.262),
          ("WL003", "浏阳河·马坡岭", 113.055, 28.190), ("WL004", "捞刀河·洪山", 113.030, 28.262),
          ("WL005", "圭塘河·井湾子", 113.003, 28.130), ("WL006", "靳江河·洋湖", 112.905, 28.125),
          ("WL007", "沩水·宁乡", 112.553, 28.277), ("WL008", "浏阳河·浏阳", 113.643, 28.163))
HOTSPOT_STATION, RISING_GAUGE = 4, "WL003"


def install_id() -> str:
    """A short id of this installation, so two demos on one broker never share topics or sessions."""
    from urbanbrain.core.settings import get_settings

    return hashlib.sha256(str(get_settings().home_dir.resolve()).encode()).hexdigest()[:8]


def topic(feed: DemoFeed, device: str = "+") -> str:
    return f"urbanbrain/{install_id()}/{feed.part}/{device}/observed"


def mqtt_available(host: str = MQTT_HOST, port: int = MQTT_PORT, timeout: float = 0.5) -> bool:
    """Whether an MQTT broker answers: a CONNECT (3.1.1, clean session) acknowledged with CONNACK 0."""
    client = b"ub-probe-" + install_id().encode()
    payload = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(client).to_bytes(2, "big") + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(bytes([0x10, len(payload)]) + payload)
            answer = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return False
    return answer[:2] == b"\x20\x02" and answer[3:4] == b"\x00"


# --- readings ----------------------------------------------------------------------------------------


def _rand(*key: object) -> float:
    """Uniform [0, 1) from a key: the same (device, time) always gives the same reading."""
    return random.Random(hashlib.blake2b(repr(key).encode(), digest_size=8).digest()).random()


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def _np(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "s")


def _rows(table: Any) -> list[dict[str, Any]]:
    return list(table.to_pylist())


def _latest(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out[r[key]] = r  # rows come in time order per sensor: the last is the latest
    return out


def air(inv: sensors.Sensors, seed: int, at: datetime) -> list[dict[str, Any]]:
    t = _np(at)
    latest = _latest(_rows(sensors.air(inv, seed, t - sensors.AIR_STEP, t + np.timedelta64(1, "s"))), "station_id")
    stations = _rows(inv.stations)
    tick = int(at.timestamp()) // 5
    out = []
    for k, st in enumerate(stations):
        r = latest.get(st["station_id"])
        if r is None:
            continue  # an outage: the station is silent
        jitter = 1 + 0.04 * (_rand(seed, st["station_id"], tick) - 0.5)
        pm25 = r["pm25"] if r["pm25"] >= 999 else round(r["pm25"] * jitter, 1)
        if k == HOTSPOT_STATION and (at.minute % 30) < 18:
            pm25 = round(pm25 + 70, 1)  # downwind of a construction site
        out.append({"id": st["station_id"], "type": "AirQualityObserved", "dateObserved": at.isoformat(),
                    "location": _point(st["lon"], st["lat"]), "name": st["name"], "pm25": pm25,
                    "pm10": round(r["pm10"] * jitter, 1), "no2": r["no2"], "o3": r["o3"]})
    return out


def traffic(inv: sensors.Sensors, seed: int, at: datetime) -> list[dict[str, Any]]:
    t = _np(at)
    latest = _latest(_rows(sensors.traffic(inv, seed, t - sensors.TRAFFIC_STEP, t + np.timedelta64(1, "s"))),
                     "detector_id")
    slot = int(at.timestamp()) // 600
    out = []
    for d in _rows(inv.detectors):
        r = latest.get(d["detector_id"])
        if r is None or _rand(seed, d["detector_id"], slot) < 0.08:
            continue  # a detector off the air for this 10-minute slot
        vehicles = int(r["vehicles"]) + int(4 * _rand(seed, d["detector_id"], int(at.timestamp()) // 5))
        out.append({"id": d["detector_id"], "type": "TrafficFlowObserved", "dateObserved": at.isoformat(),
                    "location": _point(d["lon"], d["lat"]), "name": d["road"], "intensity": vehicles,
                    "averageVehicleSpeed": r["avg_speed_kmh"],
                    "occupancy": round(min(1.0, vehicles / (int(d["lanes"]) * 120)), 3)})
    return out


def buses(inv: sensors.Sensors, seed: int, at: datetime) -> list[dict[str, Any]]:
    """Positions between the two surrounding sensor steps, so buses glide rather than jump."""
    t = _np(at)
    step = sensors.BUS_STEP
    t0 = t - (t - np.datetime64(0, "s")) % step
    rows = _rows(sensors.buses(inv, seed, t0, t0 + 2 * step))
    frac = float((t - t0) / np.timedelta64(1, "s")) / float(step / np.timedelta64(1, "s"))
    by_bus: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_bus.setdefault(r["bus_id"], []).append(r)
    plates = dict(zip(inv.buses.column("bus_id").to_pylist(), inv.buses.column("plate").to_pylist(), strict=True))
    out = []
    for bus, pos in by_bus.items():
        a, b = pos[0], pos[-1]
        lon, lat = a["lon"] + (b["lon"] - a["lon"]) * frac, a["lat"] + (b["lat"] - a["lat"]) * frac
        heading = (math.degrees(math.atan2(b["lon"] - a["lon"], b["lat"] - a["lat"])) + 360) % 360
        speed = max(0.0, a["speed_kmh"] + 4 * (_rand(seed, bus, int(at.timestamp()) // 5) - 0.5))
        out.append({"id": bus, "type": "Vehicle", "vehicleType": "bus", "category": ["public"],
                    "dateObserved": at.isoformat(), "location": _point(lon, lat), "speed": round(speed, 1),
                    "heading": round(heading, 1) % 360, "fleetVehicleId": a["line"],
                    "vehiclePlateIdentifier": plates.get(bus, ""), "serviceStatus": "onRoute"})
    return out


def _placed(seed: int, prefix: str, n: int, spread: float, central: bool = True) -> list[tuple[str, str, float, float]]:
    """(id, district code, lon, lat) of `n` fixed devices scattered around the districts' centres."""
    ds = geo.districts()[:5] if central else geo.districts()
    rng = random.Random(f"{seed}-{prefix}")
    out = []
    for k in range(n):
        d = ds[k % len(ds)]
        out.append((f"{prefix}{k + 1:04d}", d.code, d.lon + rng.gauss(0, spread), d.lat + rng.gauss(0, spread)))
    return out


def parking(seed: int, at: datetime) -> list[dict[str, Any]]:
    local = at + LOCAL
    hour = local.hour + local.minute / 60
    busy = 0.35 + 0.45 * math.exp(-((hour - 10.5) ** 2) / 8) + 0.35 * math.exp(-((hour - 19.5) ** 2) / 4)
    out = []
    for spot, district, lon, lat in _placed(seed, "PS", N_PARKING, 0.01):
        taken = _rand(seed, spot, int(at.timestamp()) // 120) < min(busy, 0.95)
        out.append({"id": spot, "type": "ParkingSpot", "dateObserved": at.isoformat(), "location": _point(lon, lat),
                    "status": "occupied" if taken else "free", "category": ["onStreet"],
                    "refParkingSite": f"OnStreetParking-{district}", "occupied": 1 if taken else 0})
    return out


def lights(seed: int, at: datetime) -> list[dict[str, Any]]:
    local = at + LOCAL
    minutes = local.hour * 60 + local.minute
    night = minutes >= 18 * 60 + 30 or minutes < 6 * 60 + 30
    late = 0 <= minutes < 5 * 60  # dimmed after midnight
    out = []
    for lamp, _district, lon, lat in _placed(seed, "SL", N_LIGHTS, 0.012):
        broken = _rand(seed, lamp, local.date().isoformat()) < 0.04
        level = 0.0 if not night or broken else 0.6 if late else 1.0
        jitter = 0.97 + 0.06 * _rand(seed, lamp, int(at.timestamp()) // 5)
        watts = 0.0 if level == 0 else round(120 * level * jitter, 1)
        out.append({"id": lamp, "type": "Streetlight", "dateObserved": at.isoformat(), "location": _point(lon, lat),
                    "status": "defectiveLamp" if broken else "ok", "powerState": "on" if level else "off",
                    "illuminanceLevel": level, "powerConsumption": watts, "lampFault": 1 if broken and night else 0})
    return out


def water(seed: int, at: datetime) -> list[dict[str, Any]]:
    seconds = at.timestamp()
    out = []
    for gauge, name, lon, lat in GAUGES:
        base = 1.6 + 1.2 * _rand(seed, gauge)
        level = base + 0.25 * math.sin(seconds / 3600 * 2 * math.pi / 12.4)  # a slow daily swell
        if gauge == RISING_GAUGE:  # rain upstream: a flood wave every 40 minutes
            level = 2.2 + 1.8 * max(0.0, math.sin(seconds / 2400 * 2 * math.pi))
        level += 0.01 * (_rand(seed, gauge, int(seconds) // 5) - 0.5)
        out.append({"id": gauge, "type": "EnvironmentObserved", "dateObserved": at.isoformat(),
                    "location": _point(lon, lat), "name": name, "waterLevel": round(level, 3)})
    return out


def readings(seed: int, at: datetime, inv: sensors.Sensors | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every demo feed's readings at `at`: feed name -> entities (key-values)."""
    inv = inv or sensors.inventory(seed)
    at = at.astimezone(UTC).replace(microsecond=0)
    return {"air-stations": air(inv, seed, at), "traffic-flow": traffic(inv, seed, at),
            "bus-positions": buses(inv, seed, at), "parking-bays": parking(seed, at),
            "street-lights": lights(seed, at), "water-gauges": water(seed, at)}


# --- registration and publishing ------------------------------------------------------------------


def register_feeds(kind: str, feeds: tuple[DemoFeed, ...] = FEEDS) -> list[str]:
    """Make sure every demo feed exists with `kind` (mqtt or http) and its rules: through the service
    functions, as SYSTEM (the demo's own work). Returns the names of feeds created now."""
    from urbanbrain.core.errors import NotFoundError
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.stream import alerts, service

    existing = {f["name"]: f for f in service.list_feeds()}
    rules = {r["name"] for r in alerts.list_rules(SYSTEM)}
    created = []
    for feed in feeds:
        current = existing.get(feed.name)
        if current is not None and current["kind"] != kind:
            service.delete_feed(SYSTEM, feed.name, purge=True)  # the broker came or went since last run
            rules -= {name for name, _, _ in feed.rules}
            current = None
        if current is None:
            options: dict[str, Any] = {}
            if kind == "mqtt":
                options = {"url": f"mqtt://{MQTT_HOST}:{MQTT_PORT}", "topic": topic(feed), "qos": 0,
                           "client_id": f"ub-demo-{install_id()}-{feed.name}"}
            try:
                service.create_feed(SYSTEM, feed.name, feed.department, kind, options, model=feed.model)
            except NotFoundError as exc:  # a department the city does not have (a trimmed catalogue)
                log.warning("demo feed %s not registered: %s", feed.name, exc)
                continue
            created.append(feed.name)
        for name, when, severity in feed.rules:
            if name not in rules:
                alerts.add_rule(SYSTEM, name, feed.name, when, severity)
    return created


class LiveCity:
    """The publishing thread: `start()`, then `stop()`; `kind` is how it publishes (mqtt or http)."""

    def __init__(self, seed: int, *, kind: str | None = None, interval: float = 5.0, batch_seconds: float = 30.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), feeds: tuple[DemoFeed, ...] = FEEDS) -> None:
        self.seed, self.interval, self.batch_seconds, self.now = seed, interval, batch_seconds, now
        self.feeds = feeds
        self.kind = kind or ("mqtt" if mqtt_available() else "http")
        self.ticks = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: Any = None
        self._stream: Any = None
        self._stream_thread: threading.Thread | None = None
        self._runners: list[Any] = []

    def start(self) -> LiveCity:
        self._thread = threading.Thread(target=self._run, name="ub-demo-live", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            register_feeds(self.kind, self.feeds)
            self._connect()
        except Exception as exc:  # the console keeps serving without a live city; the log says why
            self.error = str(exc)
            log.exception("the demo's live feeds did not start")
            return
        inv = sensors.inventory(self.seed)
        while not self._stop.is_set():
            try:
                self.publish(readings(self.seed, self.now(), inv))
                self.ticks += 1
            except Exception as exc:
                self.error = str(exc)
                log.exception("demo live tick failed")
            self._stop.wait(self.interval)

    def _connect(self) -> None:
        """MQTT: a publisher client, and the stream runner consuming the feeds in this process. HTTP:
        each feed's pipeline, fed in-process (what `POST /api/feeds/<name>` does after the key check)."""
        from urbanbrain.stream.runner import StreamProcess, journal_dir
        from urbanbrain.stream.service import feed_config

        names = [f.name for f in self.feeds]
        if self.kind == "mqtt":
            import paho.mqtt.client as mqtt

            # every MQTT/NATS feed of the install, as `urbanbrain serve` runs them, the demo's among them
            self._stream = StreamProcess(batch_seconds=self.batch_seconds)
            self._stream_thread = threading.Thread(target=self._stream.run, name="ub-demo-stream", daemon=True)
            self._stream_thread.start()
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ub-demo-{install_id()}-pub")
            client.connect(MQTT_HOST, MQTT_PORT)
            client.loop_start()
            self._mqtt = client
            return
        from urbanbrain.stream.feeds.http import HttpFeed, running
        from urbanbrain.stream.pipeline import FeedRunner

        for name in names:
            if not running(name):
                runner = FeedRunner(feed_config(name), journal_dir(name), feed=HttpFeed(name, {}),
                                    batch_seconds=self.batch_seconds)
                runner.start()
                self._runners.append(runner)

    def publish(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        by_name = {f.name: f for f in self.feeds}
        for name, entities in batch.items():
            if name not in by_name:
                continue
            if self.kind == "mqtt":
                for e in entities:
                    self._mqtt.publish(topic(by_name[name], e["id"]), json.dumps(e, ensure_ascii=False), qos=0)
            elif entities:
                from urbanbrain.stream.feeds.http import push

                push(name, json.dumps(entities, ensure_ascii=False).encode())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
        if self._stream is not None:
            self._stream.stop()
            if self._stream_thread is not None:
                self._stream_thread.join(timeout=30)  # its runners commit what is buffered
        for runner in self._runners:
            runner.stop()  # commits what is buffered
