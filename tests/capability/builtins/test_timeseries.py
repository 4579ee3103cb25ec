"""Anomalies and forecasts on synthetic sensor series with a daily cycle and injected faults, read from
a tiny lake like any department's sensor table."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.capability.builtins.lake import sqlite_dataset
from urbanbrain.capability.builtins.timeseries import anomalies, detect, forecast
from urbanbrain.core.errors import ValidationError

START = datetime(2024, 3, 1)
STEP = timedelta(minutes=10)
DAYS = 8  # the lake gets the first 7; the 8th is the truth the forecast is judged against


def cycle(t: np.ndarray) -> np.ndarray:
    """Traffic-like: night low, morning and evening peaks (t in hours since START, local time)."""
    h = t % 24
    return 20 + 60 * np.exp(-((h - 8) ** 2) / 2) + 45 * np.exp(-((h - 18) ** 2) / 3) + 10 * ((h > 9) & (h < 17))


def series(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = DAYS * 24 * 6
    hours = np.arange(n) / 6
    return hours, cycle(hours) * (1 + 0.05 * rng.standard_normal(n))


FAULTS = {100: 999.0, 400: 0.0, 611: 350.0}  # spike, drop to zero at a busy hour, spike
STUCK = range(700, 730)  # five hours stuck on one value


@pytest.fixture
def sensor_lake(tmp_path: Path) -> tuple[str, dict[str, np.ndarray]]:
    rows, truth = [], {}
    for sensor, seed in (("D1", 1), ("D2", 2)):
        _hours, values = series(seed)
        truth[sensor] = values
        values = values.copy()
        if sensor == "D1":
            for i, v in FAULTS.items():
                values[i] = v
            values[list(STUCK)] = 37.0
        for k in range(7 * 24 * 6):
            rows.append({"reading_id": f"{sensor}-{k}", "detector_id": sensor,
                         "ts": (START + k * STEP).strftime("%Y-%m-%d %H:%M:%S"),
                         "vehicles": round(float(values[k]), 2)})
    return sqlite_dataset(tmp_path, "transport", "detectors", "flows", rows), truth


def test_injected_faults_are_found_and_clean_series_is_quiet(sensor_lake: tuple[str, dict]) -> None:
    name, _ = sensor_lake
    base = {"dataset": name, "time_column": "ts", "value_column": "vehicles", "series_column": "detector_id"}
    r = anomalies({**base, "series_value": "D1"})
    found = {datetime.fromisoformat(a["ts"]): a for a in r["anomalies"]}
    assert r["points"] == 7 * 24 * 6 and r["dataset"] == name
    for i, value in FAULTS.items():
        a = found[START + i * STEP]
        assert a["value"] == value and a["kind"] == ("drop" if value == 0 else "spike")
    stuck = [a for a in r["anomalies"] if a["kind"] == "stuck"]
    assert {datetime.fromisoformat(a["ts"]) for a in stuck} == {START + i * STEP for i in STUCK}
    false = len(r["anomalies"]) - len(FAULTS) - len(STUCK)
    assert false <= 2, [a for a in r["anomalies"] if a["kind"] != "stuck"]
    clean = anomalies({**base, "series_value": "D2"})
    assert clean["count"] <= 2
    recent = anomalies({**base, "series_value": "D1", "window_hours": 24})
    assert recent["points"] == 24 * 6 and datetime.fromisoformat(recent["from"]) > START + timedelta(days=5)


def test_spike_at_night_is_found_although_it_is_normal_at_rush_hour() -> None:
    hours = np.arange(3 * 24 * 6) / 6
    values = cycle(hours) + np.random.default_rng(3).normal(0, 1, len(hours))
    night = 3 * 6  # 03:00 on the first day
    values[night] = 85.0  # a rush-hour level, at 3 am
    found = detect(hours * 3600 - 8 * 3600, values)
    assert [round((a["epoch"] + 8 * 3600) / 600) for a in found] == [night]


def test_forecast_beats_naive_and_tracks_the_next_day(sensor_lake: tuple[str, dict]) -> None:
    name, truth = sensor_lake
    r = forecast({"dataset": name, "time_column": "ts", "value_column": "vehicles", "series_column": "detector_id",
                  "series_value": "D2", "step_minutes": 60, "horizon": 24})
    assert r["period"] == 24 and r["history_points"] == 7 * 24 and len(r["forecast"]) == 24
    bt = r["backtest"]
    assert bt["beats_naive"] and bt["mae"] < 0.5 * bt["naive_mae"], bt
    assert datetime.fromisoformat(r["forecast"][0]["ts"]) == START + timedelta(days=7)
    actual = truth["D2"][7 * 144:].reshape(24, 6).mean(axis=1)  # the hidden 8th day, hourly
    predicted = np.array([p["value"] for p in r["forecast"]])
    naive = np.full(24, truth["D2"][7 * 144 - 6:7 * 144].mean())
    assert np.mean(np.abs(actual - predicted)) < 0.3 * np.mean(np.abs(actual - naive))
    inside = np.mean([(p["lower"] <= a <= p["upper"]) for p, a in zip(r["forecast"], actual, strict=True)])
    assert inside >= 0.8


def test_short_history_falls_back_and_bad_input_is_named(sensor_lake: tuple[str, dict]) -> None:
    name, _ = sensor_lake
    base = {"dataset": name, "time_column": "ts", "value_column": "vehicles", "series_column": "detector_id"}
    short = forecast({**base, "series_value": "D2", "window_hours": 30, "horizon": 5})
    assert short["method"] == "mean of the last cycle" and len(short["forecast"]) == 5
    with pytest.raises(ValidationError, match="usable readings"):
        anomalies({**base, "series_value": "NOPE"})
    with pytest.raises(ValidationError, match="no column 'speed'"):
        anomalies({**base, "series_value": "D1", "value_column": "speed"})
    with pytest.raises(ValidationError, match="needs a series_value"):
        forecast(base)
    with pytest.raises(ValidationError, match="no dataset named"):
        anomalies({**base, "dataset": "transport.nothing.here", "series_value": "D1"})
