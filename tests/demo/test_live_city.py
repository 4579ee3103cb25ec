"""The demo's sensors publishing live: valid Smart Data Models readings with their faults built in, fed
in-process (no broker) and over the real Mosquitto, registered as feeds with rules that raise alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.stream.helpers import ensure_dept, wait_for
from urbanbrain.core.clock import utcnow
from urbanbrain.demo import livecity, sensors
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.stream import alerts, service
from urbanbrain.stream.payloads import Parser, PayloadSpec

SEED = 20_240_601


def _flood_time() -> datetime:
    """A recent moment when the rising gauge's flood wave is at its crest and the air hot spot is on, with
    the hot-spot station reporting (a station can be in a simulated outage, silent, at any given time)."""
    now = int(datetime.now(UTC).timestamp())
    at = datetime.fromtimestamp(now - now % 2400 - 2400 + 600, UTC)
    inv = sensors.inventory(SEED)
    while at.minute % 30 >= 18 or _hot_reading(livecity.readings(SEED, at, inv)) is None:
        at -= timedelta(seconds=2400)
    return at


def _hot_reading(batch: dict[str, list[dict[str, object]]]) -> dict[str, object] | None:
    """The hot-spot station's reading, found by its id (silent stations leave no entry, so the batch's
    positions are not the inventory's)."""
    station = sensors.inventory(SEED).stations.column("station_id")[livecity.HOTSPOT_STATION].as_py()
    return next((e for e in batch["air-stations"] if e["id"] == station), None)


def test_readings_are_pure_valid_models_with_faults() -> None:
    at = _flood_time()
    inv = sensors.inventory(SEED)
    batch = livecity.readings(SEED, at, inv)
    assert batch == livecity.readings(SEED, at, inv)  # a pure function of (seed, time)
    for feed in livecity.FEEDS:
        ok, bad = Parser(PayloadSpec("ngsi", feed.model, {}), utcnow).parse(json.dumps(batch[feed.name]).encode())
        assert bad == [] and len(ok) == len(batch[feed.name]) > 0, (feed.name, [b.reason for b in bad[:3]])
        assert all(r.lon is not None for r in ok)  # every device has a place on the map
    level = {e["id"]: e["waterLevel"] for e in batch["water-gauges"]}
    assert level[livecity.RISING_GAUGE] > 3.5 and sum(v > 3.5 for v in level.values()) == 1
    hot = _hot_reading(batch)
    assert hot is not None and float(str(hot["pm25"])) > 75
    later = livecity.readings(SEED, at + timedelta(seconds=5), inv)
    assert later["bus-positions"][0]["location"] != batch["bus-positions"][0]["location"]  # buses move
    slots = [{e["id"] for e in livecity.traffic(inv, SEED, at + timedelta(minutes=10 * k))} for k in range(6)]
    assert any(len(s) < sensors.inventory(SEED).detectors.num_rows for s in slots)  # some detectors go quiet


def test_the_demo_city_publishes_in_process_without_a_broker() -> None:
    for dept in ("ecology", "transport", "urban", "emergency"):
        ensure_dept(dept)
    at = _flood_time()
    city = livecity.LiveCity(SEED, kind="http", interval=0.3, batch_seconds=1, now=lambda: at).start()
    try:
        expected = {name: len(v) for name, v in livecity.readings(SEED, at).items()}
        wait_for(lambda: {f["name"]: f["devices"] for f in service.list_feeds()} == expected, 60, "every device")
        wait_for(lambda: any(a["rule"] == "water-high" for a in alerts.list_alerts(SYSTEM)), 30, "the flood alert")
    finally:
        city.stop()
    assert city.error is None and city.ticks >= 1
    flood = [a for a in alerts.list_alerts(SYSTEM) if a["rule"] == "water-high"]
    assert [(a["device_id"], a["department"], a["severity"]) for a in flood] == [
        (livecity.RISING_GAUGE, "emergency", "major")]
    assert {r["name"] for r in alerts.list_rules(SYSTEM)} == {
        "pm25-high", "detector-silent", "lamp-defective", "water-high"}
    gauge = service.live_state(SYSTEM, feed="water-gauges", device=livecity.RISING_GAUGE)[0]
    assert gauge["attributes"]["waterLevel"]["value"] > 3.5 and gauge["lon"] is not None
    assert livecity.register_feeds("http") == []  # a second start registers nothing twice


def test_over_mosquitto_when_it_answers() -> None:
    assert livecity.mqtt_available()  # Mosquitto runs on this machine (.ci/run starts it)
    assert not livecity.mqtt_available(port=1)
    ensure_dept("emergency")
    water = tuple(f for f in livecity.FEEDS if f.name == "water-gauges")
    at = _flood_time()
    city = livecity.LiveCity(SEED, interval=0.3, batch_seconds=1, now=lambda: at, feeds=water).start()
    try:
        assert city.kind == "mqtt"
        wait_for(lambda: [f["devices"] for f in service.list_feeds()] == [len(livecity.GAUGES)], 60,
                 "the gauges over MQTT")  # the feed is registered in the background, then fed
    finally:
        city.stop()
    feed = service.list_feeds()[0]
    assert feed["kind"] == "mqtt" and feed["topic"] == livecity.topic(water[0])
    assert livecity.register_feeds("http", water) == ["water-gauges"]  # the broker went away: re-registered
    assert [(f["kind"], f["devices"]) for f in service.list_feeds()] == [("http", 0)]
    assert [r["name"] for r in alerts.list_rules(SYSTEM)] == ["water-high"]
