"""The batch (columnar) path: a malformed reading among good ones is dead-lettered with the same reason
the full validator gives it alone, the good ones land exactly once, and the pipeline pushes its dead
letters and its message/reading counts on the bus for the live page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from urbanbrain.core.bus import InProcessBus
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.stream import schemas, service
from urbanbrain.stream.feeds.base import Message
from urbanbrain.stream.feeds.http import HttpFeed
from urbanbrain.stream.payloads import Parser, PayloadSpec
from urbanbrain.stream.pipeline import FeedRunner

from .helpers import air, ensure_dept, unique, wait_for

MODEL = "AirQualityObserved"


def _parser() -> Parser:
    return Parser(PayloadSpec(model=MODEL), lambda: datetime(2026, 12, 1, tzinfo=UTC))


def _bad_ones(tag: str) -> dict[str, dict[str, Any]]:
    """Readings the column checks must catch: a plain attribute (type, bound, enum) and rich ones."""
    text = air(f"{tag}-text", 1)
    text["pm25"] = "high"
    return {
        f"{tag}-text": text,
        f"{tag}-negative": air(f"{tag}-negative", 1, relativeHumidity=-3.0),
        f"{tag}-enum": air(f"{tag}-enum", 1, typeofLocation="underground"),
        f"{tag}-int": air(f"{tag}-int", 1, airQualityIndex=2.5),
        f"{tag}-where": air(f"{tag}-where", 1, location={"type": "Point", "coordinates": "here"}),
        f"{tag}-poi": air(f"{tag}-poi", 1, refPointOfInterest=42),
    }


@pytest.mark.parametrize("mixed", [False, True], ids=["one-shape", "mixed-shapes"])
def test_a_malformed_reading_in_a_batch_gets_the_validators_own_reason(mixed: bool) -> None:
    bad = _bad_ones("bad")
    good = [air(f"good-{k}", 1) for k in range(120)]
    if mixed:  # readings with different key sets take the per-column path without the transposition
        for e in good[::3]:
            e.pop("pm25")
            e["pm10"] = 12.0
    items = [*good[:40], bad["bad-text"], bad["bad-negative"], *good[40:80], *list(bad.values())[2:], *good[80:]]
    payloads = [json.dumps(items[i:i + 25]).encode() for i in range(0, len(items), 25)]
    readings, rejects = _parser().parse_many(payloads)
    assert sorted(r.device_id for r in readings) == sorted(e["id"] for e in good)
    got = {r.device_id: r.reason for r in rejects}
    assert set(got) == set(bad)
    for device, entity in bad.items():
        alone = schemas.validate(MODEL, entity)
        assert alone is not None and got[device] == alone  # the same words as the full validator's
        (_, (single,)) = _parser().parse(json.dumps(entity).encode())
        assert single.reason == alone  # and as the reading sent on its own


def test_a_rich_value_refused_once_is_refused_again_and_good_ones_stay_cached() -> None:
    parser = _parser()
    where = {"type": "Point", "coordinates": [112.98, 28.2]}
    for round_ in range(2):  # the second batch meets the cached verdicts
        batch = [air(f"dev-{k}", round_, location=where) for k in range(30)]
        batch.append(air("odd", round_, location={"type": "Pt", "coordinates": [112.98, 28.2]}))
        readings, rejects = parser.parse_many([json.dumps(batch).encode()])
        assert len(readings) == 30 and [r.device_id for r in rejects] == ["odd"]
        assert rejects[0].reason == schemas.validate(MODEL, batch[-1])


def test_the_pipeline_dead_letters_pushes_and_lands_good_readings_once(tmp_path: Path) -> None:
    from urbanbrain.lake.catalog import get_catalog

    ensure_dept()
    name = unique("columnar")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model=MODEL)
    bus = InProcessBus()
    events: dict[str, list[dict[str, Any]]] = {"state": [], "deadletters": []}
    bus.subscribe("state.>", lambda t, p: events["state"].append(p))
    bus.subscribe("deadletters.>", lambda t, p: events["deadletters"].append(p))
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}), bus=bus)
    runner.start()
    bad = _bad_ones("x")
    good = [air(f"dev-{k}", 2) for k in range(200)]
    body = [json.dumps([*good[:100], bad["x-text"]]).encode(),
            json.dumps(good[100:] + list(bad.values())[1:]).encode()]
    for raw in body + body:  # every message twice, as a broker may redeliver
        runner.deliver(Message(raw))
    wait_for(lambda: runner.stats.messages >= 4, what="the batches to be processed")
    runner.stop()

    table = get_catalog().load_table(("ecology", name.replace("-", "_"), "observations")).scan().to_arrow()
    devices = table.column("device_id").to_pylist()
    assert sorted(devices) == sorted(e["id"] for e in good)  # each good reading exactly once
    letters = {d["device_id"]: d["reason"] for d in service.dead_letters(SYSTEM, name, limit=100)}
    assert letters == {d: schemas.validate(MODEL, e) for d, e in bad.items()}
    pushed = [(d["device_id"], d["reason"]) for p in events["deadletters"] for d in p["letters"]]
    assert sorted(set(pushed)) == sorted(letters.items())
    assert all(p["department"] == "ecology" and p["feed"] == name for p in events["deadletters"])
    assert sum(p["count"] for p in events["deadletters"]) == 2 * len(bad) == runner.stats.dead_letters
    assert sum(p["messages"] for p in events["state"]) == 4
    assert sum(p["readings"] for p in events["state"]) == len(good) == runner.stats.readings
