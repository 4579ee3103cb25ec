"""Live sensor feeds have rows whatever the hour, because the demo discovers their columns from them."""

from __future__ import annotations

import numpy as np
import pytest

from urbanbrain.demo import sensors


@pytest.mark.parametrize("hour_utc", range(24))
def test_every_six_hour_bus_window_has_positions(hour_utc: int) -> None:
    inv = sensors.inventory(seed=7)
    end = np.datetime64("2026-11-24T00:00:00") + np.timedelta64(hour_utc, "h") + np.timedelta64(30, "m")
    table = sensors.buses(inv, 7, end - np.timedelta64(6, "h"), end)
    assert table.num_rows > 0
    assert {"position_id", "ts", "lon", "lat"} <= set(table.column_names)


def test_only_night_lines_run_at_half_past_five_local() -> None:
    inv = sensors.inventory(seed=7)
    start = np.datetime64("2026-11-23T21:00:00")  # 05:00-05:59 local (UTC+8)
    lines = set(sensors.buses(inv, 7, start, start + np.timedelta64(1, "h")).column("line").to_pylist())
    assert lines and lines <= {f"{x}路" for x in sensors.NIGHT_LINES}
