"""Rules -> alerts with a controlled clock: thresholds with duration, rate, range, stuck, silent;
lifecycle raised -> acknowledged -> cleared on the bus; one open alert per rule and device."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from urbanbrain.core.bus import InProcessBus, subject_matches
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern.principals import OPERATOR, SYSTEM, Principal
from urbanbrain.stream import alerts as svc
from urbanbrain.stream import service
from urbanbrain.stream.payloads import Reading
from urbanbrain.stream.rules import parse_rule

from .helpers import BASE, ensure_dept, unique


class Clock:
    def __init__(self) -> None:
        self.t = BASE

    def __call__(self) -> datetime:
        return self.t


def setup(*rules: tuple[str, str, str]) -> tuple[svc.AlertEngine, list[tuple[str, dict[str, Any]]], Clock, str]:
    ensure_dept()
    feed = unique("rules")
    service.create_feed(SYSTEM, feed, "ecology", "http", {}, model="AirQualityObserved")
    for name, when, severity in rules:
        svc.add_rule(SYSTEM, f"{name}-{feed}", feed, when, severity)
    bus = InProcessBus()
    events: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe("alerts.>", lambda t, p: events.append((t, p)))
    clock = Clock()
    cfg = service.feed_config(feed)
    engine = svc.AlertEngine(cfg.id, feed, "ecology", now=clock, bus=bus)
    engine.reload()
    return engine, events, clock, feed


def at(minute: float, device: str = "s1", **attrs: Any) -> Reading:
    return Reading(device, "AirQualityObserved", BASE + timedelta(minutes=minute), attrs)


def test_subject_wildcards() -> None:
    assert subject_matches("alerts.*", "alerts.major")
    assert subject_matches("alerts.>", "alerts.major.x")
    assert not subject_matches("alerts.*", "alerts.major.x")
    assert not subject_matches("alerts.>", "alerts")


def test_rule_syntax_errors_say_what_is_accepted() -> None:
    with pytest.raises(ValidationError) as err:
        parse_rule("pm25 is high")
    assert "pm25 > 75 for 10m" in (err.value.hint or "")


def test_threshold_for_a_duration_raises_once_and_clears() -> None:
    engine, events, _, feed = setup(("pm", "pm25 > 75 for 10m", "major"))
    for minute in range(0, 10):
        engine.observe([at(minute, pm25=80)])
    assert events == []  # 9 minutes above: not yet
    for minute in range(10, 20):
        engine.observe([at(minute, pm25=90)])
    assert [(t, p["event"]) for t, p in events] == [("alerts.major", "raised")]  # one alert, not ten
    alert = svc.list_alerts(SYSTEM, feed=feed)[0]
    assert alert["status"] == "raised" and alert["device_id"] == "s1" and "pm25 = 80" not in alert["message"]
    acked = svc.acknowledge_alert(SYSTEM, alert["id"], bus=engine.bus)
    assert acked["status"] == "acknowledged"
    engine.observe([at(21, pm25=90)])
    assert len(events) == 2  # still open (acknowledged): nothing new
    engine.observe([at(22, pm25=20)])
    assert [p["event"] for _, p in events] == ["raised", "acknowledged", "cleared"]
    assert svc.list_alerts(SYSTEM, feed=feed) == []
    assert svc.list_alerts(SYSTEM, feed=feed, status="cleared")[0]["id"] == alert["id"]


def test_a_dip_resets_the_duration() -> None:
    engine, events, _, _ = setup(("pm", "pm25 > 75 for 10m", "major"))
    for minute in range(0, 8):
        engine.observe([at(minute, pm25=80)])
    engine.observe([at(8, pm25=10)])
    for minute in range(9, 18):
        engine.observe([at(minute, pm25=80)])
    assert events == []


def test_rate_range_and_stuck() -> None:
    engine, events, _, _ = setup(("rate", "rate pm25 > 20 per 1m", "minor"),
                                 ("range", "pm25 outside 0..500", "warning"), ("stuck", "stuck pm25 30m", "info"))
    engine.observe([at(0, "a", pm25=10), at(0, "b", pm25=5)])
    engine.observe([at(1, "a", pm25=50)])  # +40 per minute
    engine.observe([at(2, "b", pm25=600)])  # out of range (and a jump)
    for minute in range(3, 40):
        engine.observe([at(minute, "a", pm25=50)])  # a stays at 50: stuck after 30 min
    raised = sorted((p["rule"].split("-")[0], p["device_id"]) for _, p in events if p["event"] == "raised")
    assert ("rate", "a") in raised and ("range", "b") in raised and ("stuck", "a") in raised
    assert ("stuck", "b") not in raised


def test_silent_device_by_the_clock() -> None:
    engine, events, clock, _ = setup(("quiet", "silent 15m", "major"))
    engine.observe([at(0, "a", pm25=1), at(0, "b", pm25=1)])
    clock.t = BASE + timedelta(minutes=10)
    engine.observe([at(10, "b", pm25=1)])
    engine.tick()
    assert events == []
    clock.t = BASE + timedelta(minutes=16)
    engine.tick()
    engine.tick()
    assert [(p["event"], p["device_id"]) for _, p in events] == [("raised", "a")]
    engine.observe([at(17, "a", pm25=1)])
    assert [p["event"] for _, p in events] == ["raised", "cleared"]


def test_other_departments_cannot_add_rules_or_acknowledge() -> None:
    engine, _, _, feed = setup(("pm", "pm25 > 75", "critical"))
    engine.observe([at(0, pm25=99)])
    outsider = Principal("user", "mallory", frozenset({"transport"}), frozenset({OPERATOR}))
    with pytest.raises(PermissionDeniedError):
        svc.add_rule(outsider, unique("r"), feed, "pm25 > 1")
    assert svc.list_alerts(outsider) == []
    alert = svc.list_alerts(SYSTEM, feed=feed)[0]
    with pytest.raises(PermissionDeniedError):
        svc.acknowledge_alert(outsider, alert["id"])
    insider = Principal("user", "li", frozenset({"ecology"}), frozenset({OPERATOR}))
    assert svc.acknowledge_alert(insider, alert["id"], bus=engine.bus)["acknowledged_by"] == "user:li"


def test_anomaly_robust_z_over_a_rolling_window() -> None:
    assert parse_rule("anomaly pm25").limit == 4.0 and parse_rule("anomaly pm25").duration == timedelta(hours=1)
    rule = parse_rule("anomaly pm25 z > 3 over 30m")
    assert (rule.kind, rule.attribute, rule.limit, rule.duration) == ("anomaly", "pm25", 3.0, timedelta(minutes=30))
    engine, events, _, _ = setup(("odd", "anomaly pm25 z > 3 over 30m", "major"))
    noise = [20, 21, 19, 22, 20, 18, 21, 20, 19, 22, 21, 20]
    for minute, v in enumerate(noise):  # a normal series: never anomalous
        engine.observe([at(minute, "a", pm25=v), at(minute, "b", pm25=v)])
    assert events == []
    engine.observe([at(12, "a", pm25=90)])  # a spike on a: z ~ 47
    assert [(p["event"], p["device_id"]) for _, p in events] == [("raised", "a")]
    assert "robust z from the median 20" in events[0][1]["message"]
    engine.observe([at(13, "a", pm25=95)])  # still anomalous: the same alert, no storm
    engine.observe([at(13, "b", pm25=23)])  # within b's noise
    assert len(events) == 1
    engine.observe([at(14, "a", pm25=21)])  # back to normal: cleared
    assert [p["event"] for _, p in events] == ["raised", "cleared"]
    for minute in range(15, 60):  # a step to a new level: anomalous at first, then the window adapts
        engine.observe([at(minute, "a", pm25=50)])
    engine.observe([at(60, "a", pm25=50.2)])
    assert [p["event"] for _, p in events] == ["raised", "cleared", "raised", "cleared"]
    assert not engine.open  # 50 is a's normal now
