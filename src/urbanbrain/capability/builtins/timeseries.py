"""Anomaly detection and short-term forecasting on any sensor series in the lake.

City sensors (air stations, traffic detectors) follow the day: a reading that is normal at 18:00 is
an anomaly at 04:00, so a global threshold either floods operators or misses faults. Both capabilities
therefore model a *daily seasonal baseline*: the median of each time-of-day slot over the window.

- Anomalies: residual = value − slot median; robust z = residual / (1.4826 · MAD of residuals); flag
  |z| > threshold (spikes such as the 999 a faulty station sends, drops), plus runs of an identical
  value (a detector stuck on one count) that a z-score cannot see.
- Forecast: the series is averaged onto a regular grid; forecast = seasonal profile + a level offset
  (exponentially weighted recent residual) that decays towards zero over the horizon. It is backtested
  on the last window against the naive forecast (last value carried forward) and both MAEs reported, so
  a caller can see whether the model earns its keep on this series.

numpy only: no statsmodels, and each call reads one series through the query engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from urbanbrain.capability.base import BuiltinSpec
from urbanbrain.core.errors import ValidationError

MAD_SCALE = 1.4826  # makes the MAD a consistent estimate of the standard deviation for normal noise


def load_series(params: dict[str, Any], bucket_minutes: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(epoch seconds, values, dataset name) of one series over the last `window_hours`, in time order.

    With `bucket_minutes`, values are averaged per bucket in DuckDB (a regular grid for forecasting).
    """
    from urbanbrain.capability.builtins._lake import caller, find_dataset, require_columns, sql_dataset, sql_literal
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident as q

    ds = find_dataset(str(params["dataset"]), "", (), "the sensor series")
    t_col, v_col = str(params.get("time_column", "ts")), str(params["value_column"])
    key_col = params.get("series_column")
    require_columns(ds, t_col, v_col, *([str(key_col)] if key_col else []))
    if key_col and params.get("series_value") is None:
        raise ValidationError(f"series_column {key_col!r} needs a series_value (e.g. one station's id)")
    where = f"WHERE CAST({q(str(key_col))} AS VARCHAR) = {sql_literal(str(params['series_value']))}" if key_col else ""
    window = int(params.get("window_hours", 168))
    t = f"TRY_CAST({q(t_col)} AS TIMESTAMP)"
    base = (f"WITH s AS (SELECT {t} AS t, TRY_CAST({q(v_col)} AS DOUBLE) AS v FROM {sql_dataset(ds.name)} {where}), "
            f"w AS (SELECT * FROM s WHERE t IS NOT NULL AND v IS NOT NULL AND "
            f"t > (SELECT max(t) FROM s) - INTERVAL {window} HOUR) ")
    if bucket_minutes:
        sql = (base + f"SELECT epoch(time_bucket(INTERVAL {int(bucket_minutes)} MINUTE, t)) AS e, avg(v) AS v "
               "FROM w GROUP BY 1 ORDER BY 1")
    else:
        sql = base + "SELECT epoch(t) AS e, v FROM w ORDER BY t"
    table = run_query(sql, max_rows=200_000, principal=caller()).table
    epochs = np.asarray(table.column("e").to_numpy(zero_copy_only=False), dtype=np.float64)
    values = np.asarray(table.column("v").to_numpy(zero_copy_only=False), dtype=np.float64)
    if len(values) < 3:
        which = f" for {key_col} = {params.get('series_value')!r}" if key_col else ""
        raise ValidationError(f"dataset {ds.name} has {len(values)} usable readings of {v_col!r}{which} "
                              f"in the last {window} hours", hint="check the series key, columns and window")
    return epochs, values, ds.name


def _slots(epochs: np.ndarray, slot_minutes: int, tz_hours: float) -> np.ndarray:
    return (((epochs + tz_hours * 3600) % 86400) // (slot_minutes * 60)).astype(np.int64)


def seasonal_baseline(epochs: np.ndarray, values: np.ndarray, slot_minutes: int = 60,
                      tz_hours: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Per reading, the median of its time-of-day slot (the daily profile) and the slot's robust spread.

    The spread is per slot because sensor noise grows with the level (rush-hour counts vary more than
    night counts); it is floored at half the overall spread so a quiet slot cannot make noise look huge.
    """
    slots = _slots(epochs, slot_minutes, tz_hours)
    n_slots = int(1440 // slot_minutes)
    profile = np.full(n_slots, np.median(values))
    spread = np.zeros(n_slots)
    for s in np.unique(slots):
        chunk = values[slots == s]
        profile[s] = np.median(chunk)
        spread[s] = np.median(np.abs(chunk - profile[s])) * MAD_SCALE
    resid = values - profile[slots]
    overall = float(np.median(np.abs(resid - np.median(resid)))) * MAD_SCALE
    floor = max(0.5 * overall, 1e-9 + 0.01 * float(np.median(np.abs(values))))
    return profile[slots], np.maximum(spread[slots], floor)


def detect(epochs: np.ndarray, values: np.ndarray, threshold: float = 5.0, stuck_points: int = 12,
           slot_minutes: int = 60) -> list[dict[str, Any]]:
    """Anomalies as dicts (epoch, value, expected, score, kind), in time order."""
    expected, scale = seasonal_baseline(epochs, values, slot_minutes)
    z = (values - expected) / scale
    found: dict[int, dict[str, Any]] = {}
    for i in np.flatnonzero(np.abs(z) > threshold):
        found[int(i)] = {"i": int(i), "score": round(float(z[i]), 2), "kind": "spike" if z[i] > 0 else "drop"}
    run_start = 0
    for end in range(1, len(values) + 1):  # runs of one repeated value: a stuck sensor
        if end == len(values) or values[end] != values[run_start]:
            if end - run_start >= stuck_points:
                for j in range(run_start, end):
                    found.setdefault(j, {"i": j, "score": round(float(z[j]), 2), "kind": "stuck"})
                    found[j]["kind"] = "stuck"
            run_start = end
    return [{"epoch": float(epochs[f["i"]]), "value": float(values[f["i"]]),
             "expected": round(float(expected[f["i"]]), 3), "score": f["score"], "kind": f["kind"]}
            for f in sorted(found.values(), key=lambda f: f["i"])]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None).isoformat()  # the lake stores naive UTC


def anomalies(params: dict[str, Any]) -> dict[str, Any]:
    epochs, values, name = load_series(params)
    found = detect(epochs, values, float(params.get("threshold", 5.0)), int(params.get("stuck_points", 12)))
    limit = int(params.get("max_anomalies", 200))
    items = [{"ts": _iso(a.pop("epoch")), **a} for a in found[:limit]]
    return {"dataset": name, "points": len(values), "count": len(found), "truncated": len(found) > limit,
            "from": _iso(float(epochs[0])), "to": _iso(float(epochs[-1])), "anomalies": items}


def _fill(values: np.ndarray) -> np.ndarray:
    """Forward-fill gaps (NaN) on the regular grid; leading gaps take the first value."""
    out = values.copy()
    ok = np.flatnonzero(~np.isnan(out))
    idx = np.maximum.accumulate(np.where(~np.isnan(out), np.arange(len(out)), 0))
    out = out[idx]
    out[: ok[0]] = out[ok[0]]
    return out


def fit_forecast(y: np.ndarray, period: int, horizon: int, alpha: float = 0.3, decay: float = 0.9) -> np.ndarray:
    """Seasonal profile (median per slot of the cycle, aligned to the series end) + decaying level."""
    n = len(y)
    if n < 2 * period:
        return np.full(horizon, float(np.mean(y[-max(1, min(n, period)):])))
    phase = np.arange(n) % period
    profile = np.array([np.median(y[phase == p]) for p in range(period)])
    level = 0.0
    for r in y - profile[phase]:
        level = alpha * r + (1 - alpha) * level
    future = (n + np.arange(horizon)) % period
    return np.asarray(profile[future] + level * decay ** np.arange(1, horizon + 1))


def forecast(params: dict[str, Any]) -> dict[str, Any]:
    step = int(params.get("step_minutes", 60))
    horizon = int(params.get("horizon", 24))
    epochs, raw, name = load_series(params, bucket_minutes=step)
    grid = np.arange(epochs[0], epochs[-1] + 1, step * 60.0)
    y = np.full(len(grid), np.nan)
    y[np.round((epochs - epochs[0]) / (step * 60)).astype(np.int64)] = raw
    y = _fill(y)
    period = max(1, 1440 // step)
    test = min(period, len(y) // 3)
    backtest: dict[str, Any] = {"steps": test}
    sigma = float(np.std(np.diff(y))) if len(y) > 2 else 0.0
    if test >= 1 and len(y) - test >= 2:
        train, actual = y[:-test], y[-test:]
        predicted = fit_forecast(train, period, test)
        errors = actual - predicted
        backtest.update(mae=round(float(np.mean(np.abs(errors))), 4),
                        naive_mae=round(float(np.mean(np.abs(actual - train[-1]))), 4))
        backtest["beats_naive"] = backtest["mae"] < backtest["naive_mae"]
        sigma = float(np.sqrt(np.mean(errors ** 2)))
    points = fit_forecast(y, period, horizon)
    z = 1.96
    width = z * sigma * np.sqrt(1 + np.arange(horizon) / max(period, 1))
    start = grid[-1] + step * 60
    items = [{"ts": _iso(start + h * step * 60), "value": round(float(points[h]), 4),
              "lower": round(float(points[h] - width[h]), 4), "upper": round(float(points[h] + width[h]), 4)}
             for h in range(horizon)]
    return {"dataset": name, "step_minutes": step, "history_points": len(y), "period": period,
            "method": "seasonal profile + level" if len(y) >= 2 * period else "mean of the last cycle",
            "interval": "95% (normal, backtest RMSE)", "backtest": backtest, "forecast": items}


_SERIES = {
    "dataset": {"type": "string", "description": "lake dataset, e.g. ecology.air_quality.readings"},
    "time_column": {"type": "string", "default": "ts"},
    "value_column": {"type": "string"},
    "series_column": {"type": "string", "description": "column identifying one sensor, e.g. station_id"},
    "series_value": {"type": ["string", "number"], "description": "the sensor, e.g. AQ001"},
    "window_hours": {"type": "integer", "minimum": 1, "maximum": 24 * 90, "default": 168,
                     "description": "how much recent history to analyse"},
}
_NUM = {"type": "number"}

ANOMALIES = BuiltinSpec(
    name="sensor_anomalies",
    title_zh="传感器时序异常检测",
    title_en="Sensor time-series anomaly detection",
    description_zh="对湖仓中任一传感器时序（如空气质量、交通流量）按日周期中位数基线和稳健 z 分数（MAD）检测突变、"
                   "骤降和卡死值，返回异常时间、数值、期望值和得分。",
    description_en="Finds spikes, drops and stuck values in any sensor series in the lake using a time-of-day "
                   "median baseline and robust z-scores (MAD); returns timestamps, values, expected values and scores.",
    category="ai_model",
    input_schema={"type": "object", "required": ["dataset", "value_column"], "additionalProperties": False,
                  "properties": {**_SERIES,
                                 "threshold": {"type": "number", "exclusiveMinimum": 0, "default": 5.0},
                                 "stuck_points": {"type": "integer", "minimum": 3, "default": 12},
                                 "max_anomalies": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200}}},
    output_schema={"type": "object", "required": ["dataset", "points", "count", "anomalies"], "properties": {
        "dataset": {"type": "string"}, "points": {"type": "integer"}, "count": {"type": "integer"},
        "truncated": {"type": "boolean"}, "from": {"type": "string"}, "to": {"type": "string"},
        "anomalies": {"type": "array", "items": {"type": "object", "properties": {
            "ts": {"type": "string"}, "value": _NUM, "expected": _NUM, "score": _NUM,
            "kind": {"type": "string", "enum": ["spike", "drop", "stuck"]}}}}}},
    func=anomalies,
    owner="ecology",
    examples=[{"params": {"dataset": "ecology.air_quality.readings", "value_column": "pm25",
                          "series_column": "station_id", "series_value": "AQ001"}}],
)

FORECAST = BuiltinSpec(
    name="sensor_forecast",
    title_zh="传感器时序短期预测",
    title_en="Sensor time-series short-term forecast",
    description_zh="对湖仓中任一传感器时序做短期预测（日周期剖面 + 水平修正），给出预测区间，并报告最近一个周期的"
                   "回测平均绝对误差及与朴素预测的对比。",
    description_en="Short-term forecast of any sensor series in the lake (daily profile plus level), with a "
                   "prediction interval and the backtest MAE on the last cycle compared with the naive forecast.",
    category="ai_model",
    input_schema={"type": "object", "required": ["dataset", "value_column"], "additionalProperties": False,
                  "properties": {**_SERIES,
                                 "step_minutes": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60},
                                 "horizon": {"type": "integer", "minimum": 1, "maximum": 168, "default": 24}}},
    output_schema={"type": "object", "required": ["dataset", "backtest", "forecast"], "properties": {
        "dataset": {"type": "string"}, "step_minutes": {"type": "integer"}, "history_points": {"type": "integer"},
        "period": {"type": "integer"}, "method": {"type": "string"}, "interval": {"type": "string"},
        "backtest": {"type": "object", "properties": {"steps": {"type": "integer"}, "mae": _NUM,
                                                      "naive_mae": _NUM, "beats_naive": {"type": "boolean"}}},
        "forecast": {"type": "array", "items": {"type": "object", "properties": {
            "ts": {"type": "string"}, "value": _NUM, "lower": _NUM, "upper": _NUM}}}}},
    func=forecast,
    owner="ecology",
    examples=[{"params": {"dataset": "transport.traffic_archive.traffic_history", "value_column": "vehicles",
                          "series_column": "detector_id", "series_value": "TD0001", "horizon": 24}}],
)
