"""Sensor feeds: air-quality stations, traffic flow detectors, bus positions.

Readings are a pure function of (seed, sensor, timestamp): daily cycles (rush hours, the evening PM2.5
rise), weekday effects, noise, and faults (a station offline for hours, a detector stuck on one value,
spikes of 999). Being pure, the same reading comes out whether the builder writes history to files or
the simulator serves it live minutes later -- so "new rows as the clock advances" needs no state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from urbanbrain.demo import geo

AIR_STEP = np.timedelta64(10, "m")
TRAFFIC_STEP = np.timedelta64(5, "m")
BUS_STEP = np.timedelta64(2, "m")
# Night lines (夜班) run around the clock, so any window of the live feed has positions in it: a feed that is
# empty at 05:30 would have no columns to discover and the demo could not register it.
NIGHT_LINES = [901, 908]


@dataclass(frozen=True)
class Sensors:
    """The fixed sensor inventory of the city (stations, detectors, buses) for one seed."""

    stations: pa.Table
    detectors: pa.Table
    buses: pa.Table


def inventory(seed: int, n_stations: int = 20, n_detectors: int = 40, n_buses: int = 60) -> Sensors:
    rng = np.random.default_rng([seed, 7])
    ds = geo.districts()
    st_d = np.arange(n_stations) % len(ds)
    stations = pa.table({
        "station_id": [f"AQ{k + 1:03d}" for k in range(n_stations)],
        "name": [f"{ds[d].name}{ds[d].streets[k % len(ds[d].streets)].removesuffix('街道')}监测站"
                 for k, d in enumerate(st_d)],
        "district_code": [ds[d].code for d in st_d],
        "lon": np.round([ds[d].lon + rng.normal(0, 0.02) for d in st_d], 6),
        "lat": np.round([ds[d].lat + rng.normal(0, 0.02) for d in st_d], 6),
        "kind": np.where(np.arange(n_stations) < 10, "国控点", "市控点"),
    })
    det_d = rng.integers(0, 5, n_detectors)  # detectors sit on the central districts' arterials
    detectors = pa.table({
        "detector_id": [f"TD{k + 1:04d}" for k in range(n_detectors)],
        "road": [ds[d].roads[k % len(ds[d].roads)] for k, d in enumerate(det_d)],
        "district_code": [ds[d].code for d in det_d],
        "lanes": rng.integers(2, 6, n_detectors),
        "lon": np.round([ds[d].lon + rng.normal(0, 0.015) for d in det_d], 6),
        "lat": np.round([ds[d].lat + rng.normal(0, 0.015) for d in det_d], 6),
    })
    lines = rng.choice([1, 2, 11, 16, 23, 102, 107, 117, 124, 136, 145, 152, 158, 202, 301, 348], n_buses)
    lines[: max(1, n_buses // 10)] = rng.choice(NIGHT_LINES, max(1, n_buses // 10))  # night lines run 24 h
    buses = pa.table({
        "bus_id": [f"B{k + 1:05d}" for k in range(n_buses)],
        "line": [f"{x}路" for x in lines],
        "plate": [f"湘A{k * 7919 % 90000 + 10000}D" for k in range(n_buses)],
    })
    return Sensors(stations, detectors, buses)


def _grid(start: np.datetime64, end: np.datetime64, step: np.timedelta64) -> np.ndarray:
    """Timestamps on the step grid in [start, end)."""
    first = start + (-(start - np.datetime64(0, "s")) % step)
    return np.arange(first, end, step).astype("datetime64[s]")


def _noise(seed: int, ids: np.ndarray, ts: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) noise that depends only on (seed, sensor index, timestamp): a cheap integer hash."""
    x = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (ts.astype(np.int64).astype(np.uint64)
                                                                   * np.uint64(0xBF58476D1CE4E5B9))
    x ^= np.uint64(seed * 1_000_003 + salt)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _hours(ts: np.ndarray) -> np.ndarray:
    # local time is UTC+8
    return (((ts.astype("datetime64[s]").astype(np.int64) + 8 * 3600) % 86400) / 3600.0)


def air(sensors: Sensors, seed: int, start: np.datetime64, end: np.datetime64) -> pa.Table:
    """Air readings every 10 minutes; ~3% of station-days have a 3-hour outage; 0.2% spikes of 999."""
    ts = _grid(start, end, AIR_STEP)
    n_s = sensors.stations.num_rows
    sid, t = np.repeat(np.arange(n_s), len(ts)), np.tile(ts, n_s)
    h = _hours(t)
    base = 25 + 20 * _noise(seed, sid, (t.astype("datetime64[D]").astype("datetime64[s]")), 1)
    pm25 = base * (1 + 0.35 * np.cos((h - 21) / 24 * 2 * np.pi)) + 6 * (_noise(seed, sid, t, 2) - 0.5)
    day = t.astype("datetime64[D]").astype("datetime64[s]")
    outage = (_noise(seed, sid, day, 3) < 0.03) & (np.abs(h - 24 * _noise(seed, sid, day, 4)) < 1.5)
    spike = _noise(seed, sid, t, 5) < 0.002
    pm25 = np.where(spike, 999.0, np.round(np.maximum(pm25, 1.0), 1))
    keep = ~outage
    station_ids = np.asarray(sensors.stations.column("station_id").to_pylist())
    return pa.table({
        "reading_id": np.char.add(np.char.add(station_ids[sid[keep]], "-"), t[keep].astype(np.int64).astype(str)),
        "station_id": station_ids[sid[keep]],
        "ts": pa.array(t[keep], pa.timestamp("s")),
        "pm25": pm25[keep],
        "pm10": np.round(pm25[keep] * (1.5 + 0.3 * _noise(seed, sid[keep], t[keep], 6)), 1),
        "no2": np.round(20 + 25 * np.exp(-((h[keep] - 8.5) ** 2) / 3) + 20 * np.exp(-((h[keep] - 18) ** 2) / 4), 1),
        "o3": np.round(np.maximum(5, 90 * np.sin(np.clip((h[keep] - 7) / 12, 0, 1) * np.pi)), 1),
    })


def traffic(sensors: Sensors, seed: int, start: np.datetime64, end: np.datetime64) -> pa.Table:
    """Vehicle counts per 5 minutes; morning and evening peaks; 2% of detector-days stuck on one value."""
    ts = _grid(start, end, TRAFFIC_STEP)
    n_d = sensors.detectors.num_rows
    did, t = np.repeat(np.arange(n_d), len(ts)), np.tile(ts, n_d)
    h = _hours(t)
    lanes = np.asarray(sensors.detectors.column("lanes").to_numpy())[did]
    profile = 0.15 + np.exp(-((h - 8) ** 2) / 1.5) + 0.9 * np.exp(-((h - 18) ** 2) / 2) + 0.4 * ((h > 9) & (h < 17))
    count = np.round(lanes * 40 * profile * (0.85 + 0.3 * _noise(seed, did, t, 11))).astype(np.int64)
    day = t.astype("datetime64[D]").astype("datetime64[s]")
    stuck = _noise(seed, did, day, 12) < 0.02
    count = np.where(stuck, 37, count)
    speed = np.round(np.clip(60 - 35 * profile + 5 * _noise(seed, did, t, 13), 5, 70), 1)
    det_ids = np.asarray(sensors.detectors.column("detector_id").to_pylist())
    return pa.table({
        "record_id": np.char.add(np.char.add(det_ids[did], "-"), t.astype(np.int64).astype(str)),
        "detector_id": det_ids[did], "ts": pa.array(t, pa.timestamp("s")),
        "vehicles": count, "avg_speed_kmh": np.where(stuck, 0.0, speed),
    })


def buses(sensors: Sensors, seed: int, start: np.datetime64, end: np.datetime64) -> pa.Table:
    """Bus positions every 2 minutes, moving along their line: day lines 06:00-23:00 local, night lines always."""
    ts = _grid(start, end, BUS_STEP)
    n_b = sensors.buses.num_rows
    bid, t = np.repeat(np.arange(n_b), len(ts)), np.tile(ts, n_b)
    h = _hours(t)
    night = np.isin(sensors.buses.column("line").to_numpy(zero_copy_only=False), [f"{x}路" for x in NIGHT_LINES])
    keep = ((h >= 6) & (h < 23)) | night[bid]
    bid, t, h = bid[keep], t[keep], h[keep]
    centre = geo.district_by_code("430102")
    phase = 2 * np.pi * (h / 1.5 + _noise(seed, bid, np.zeros_like(t), 21))
    radius = 0.02 + 0.08 * _noise(seed, bid, np.zeros_like(t), 22)
    bus_ids = np.asarray(sensors.buses.column("bus_id").to_pylist())
    return pa.table({
        "position_id": np.char.add(np.char.add(bus_ids[bid], "-"), t.astype(np.int64).astype(str)),
        "bus_id": bus_ids[bid], "line": np.asarray(sensors.buses.column("line").to_pylist())[bid],
        "ts": pa.array(t, pa.timestamp("s")),
        "lon": np.round(centre.lon + radius * np.cos(phase), 6),
        "lat": np.round(centre.lat + radius * np.sin(phase), 6),
        "speed_kmh": np.round(25 * _noise(seed, bid, t, 23) + 5 * (np.sin(phase * 3) + 1), 1),
    })


FEEDS = {"air": air, "traffic": traffic, "buses": buses}
