"""A scheduled indicator computation takes the lease `indicator:<name>`: while another process holds it,
this one computes nothing; once released, it computes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.operate.test_indicators import air, aqi  # noqa: F401  (the fixture and the builder)
from urbanbrain.meta import leases
from urbanbrain.operate.indicator_compute import compute_all


def test_a_due_indicator_held_elsewhere_is_left_to_its_holder(air: Path) -> None:  # noqa: F811
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    aqi(schedule="every 1h", now=t0)
    other = leases.new_owner()
    assert leases.try_acquire("indicator:aqi_good_days", other, ttl=60)
    assert compute_all(only_due=True, now=t0 + timedelta(hours=2)) == []
    leases.release("indicator:aqi_good_days", other)
    assert [r["name"] for r in compute_all(only_due=True, now=t0 + timedelta(hours=2))] == ["aqi_good_days"]
    assert leases.current("indicator:") == []
