"""Payloads: the three NGSI forms, JSON with a mapping, CSV lines, and bad input with clear reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from urbanbrain.stream.payloads import Parser, PayloadSpec
from urbanbrain.stream.schemas import model_example, model_names

from .helpers import BASE, air, dumps

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def parser(fmt: str = "ngsi", model: str | None = "AirQualityObserved", **mapping: object) -> Parser:
    return Parser(PayloadSpec(fmt, model, dict(mapping)), lambda: NOW)


def test_models_ship_inside_the_package() -> None:
    assert {"AirQualityObserved", "TrafficFlowObserved", "Vehicle", "ParkingSpot", "Streetlight"} <= set(model_names())


@pytest.mark.parametrize("form", ["keyvalues", "normalized", "ld"])
def test_three_ngsi_forms_read_the_same(form: str) -> None:
    entity = model_example("TrafficFlowObserved", form)
    readings, rejects = parser(model="TrafficFlowObserved").parse(dumps(entity))
    assert rejects == []
    (r,) = readings
    assert r.type == "TrafficFlowObserved" and r.attributes["intensity"] == 197
    assert r.observed_at.year == 2016 and r.lon is not None


def test_normalized_units_are_converted_and_unknown_units_refused() -> None:
    ld = model_example("AirQualityObserved", "ld")
    ld["windDirection"]["value"] = 170  # the upstream example has 186 where the schema allows 0..180
    ld.pop("tsp", None)  # and tsp 73.3 where it says integer
    (r,), _ = parser().parse(dumps(ld))
    assert r.attributes["co"] == 500_000.0  # GP (mg/m3) -> GQ (µg/m3)
    ld["no2"]["unitCode"] = "FURLONG"
    readings, (rej,) = parser().parse(dumps(ld))
    assert readings == [] and "unit 'FURLONG' of 'no2'" in rej.reason


def test_batch_and_ngsi_ld_notification() -> None:
    batch = [air("a", 1), air("b", 2)]
    assert len(parser().parse(dumps(batch))[0]) == 2
    assert len(parser().parse(dumps({"type": "Notification", "data": batch}))[0]) == 2


def test_plain_json_with_a_mapping_and_units() -> None:
    p = parser("json", None, id="$.dev", time="$.ts", attributes={"pm25": "$.data.pm", "t": "$.data.t"},
               units={"t": "FAH"}, lon="$.pos[0]", lat="$.pos[1]", type="AirQualityObserved")
    doc = {"dev": "s-1", "ts": 1764576000000, "data": {"pm": 80, "t": 212}, "pos": [112.9, 28.2]}
    (r,), rejects = p.parse(dumps(doc))
    assert rejects == [] and r.device_id == "s-1" and r.attributes == {"pm25": 80, "t": pytest.approx(100.0)}
    assert r.observed_at == datetime(2025, 12, 1, 8, 0, tzinfo=UTC) and (r.lon, r.lat) == (112.9, 28.2)


def test_csv_lines() -> None:
    p = parser("csv", None, columns=["id", "time", "pm25", "no2"])
    text = "id,time,pm25,no2\ns-1,2026-11-30T08:00:00Z,12.5,40\ns-2,2026-11-30T08:00:00Z,,41\n"
    readings, rejects = p.parse(text.encode())
    assert rejects == [] and [r.attributes for r in readings] == [{"pm25": 12.5, "no2": 40}, {"no2": 41}]


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{oops", "malformed JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b" " * (1024 * 1024 + 1), "over the feed's limit"),
    (dumps(air("x", 0, dateObserved="2030-01-01T00:00:00Z")), "in the future"),
    (dumps(air("x", 0, dateObserved="1970-01-01T00:00:00Z")), "before 2000"),
    (dumps(air("x'; DROP TABLE stream_devices; --", 0)), "characters a device id may not have"),
    (dumps(air("../../etc/passwd", 0)), "characters a device id may not have"),
    (dumps(air("x", 0, pm25=-5)), "does not fit AirQualityObserved: pm25"),
    (dumps(air("x", 0, type="Vehicle")), "is not the feed's model"),
    (dumps({k: v for k, v in air("x", 0).items() if k != "dateObserved"}), "dateObserved' is a required property"),
    (dumps(air("", 0)), "no device id"),
])
def test_bad_input_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    readings, rejects = parser().parse(payload)
    assert readings == [] and len(rejects) == 1 and reason in rejects[0].reason


def test_ten_megabytes_is_refused_without_parsing() -> None:
    big = json.dumps({"id": "x", "blob": "a" * (10 * 1024 * 1024)}).encode()
    _, (rej,) = parser().parse(big)
    assert "over the feed's limit" in rej.reason and len(rej.raw) <= 65536


def test_one_bad_reading_in_a_batch_does_not_stop_the_others() -> None:
    readings, rejects = parser().parse(dumps([air("a", 1), air("b", 2, pm25=-1), air("c", 3)]))
    assert [r.device_id for r in readings] == ["a", "c"] and rejects[0].device_id == "b"
    assert readings[0].observed_at > BASE
