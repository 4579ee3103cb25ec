"""Indicators as capabilities (kind `indicator`): governed by the gateway like any capability — no grant,
403; a grant for one indicator reads that one only, and only what its owner shares."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller
from tests.operate.test_indicators import ECO_STEWARD, air, aqi  # noqa: F401  (the fixture)
from urbanbrain.capability.catalog import list_capabilities
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern import audit
from urbanbrain.operate.indicator_capability import publish_indicator_capabilities
from urbanbrain.operate.indicator_compute import compute_all
from urbanbrain.operate.indicators import define_indicator
from urbanbrain.web.app import create_app


def test_indicator_capabilities_are_governed(air: Path) -> None:  # noqa: F811
    aqi()
    define_indicator(ECO_STEWARD, "readings", sql="select count(*) as value from ecology.air.readings",
                     department="ecology")
    compute_all()
    assert sorted(publish_indicator_capabilities(names=["aqi_good_days", "readings"])) == [
        "indicator_aqi_good_days", "indicator_readings"]
    listed = {c.name: c for c in list_capabilities() if c.kind == "indicator"}
    assert set(listed) == {"indicator_aqi_good_days", "indicator_readings"}
    assert listed["indicator_aqi_good_days"].owner == "ecology"
    assert listed["indicator_aqi_good_days"].implementation == {"indicator": "aqi_good_days", "shares": ["history"]}

    granted = caller("water-dashboard", "water", "indicator_aqi_good_days")  # another department, granted
    stranger = caller("water-app", "water", None)  # same department, no grant
    with TestClient(create_app()) as c:
        url = "/capabilities/indicator_aqi_good_days/v1/invoke"
        r = c.post(url, json={}, headers={"X-API-Key": granted.key})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["value"] == pytest.approx(700 / 9) and data["state"] == "warn"
        assert [p["value"] for p in data["history"]] == [pytest.approx(700 / 9)]
        # the owner shares the history, not the breakdown: no district values, and asking for one is refused
        assert data["breakdown_values"] == {} and data["breakdown"] is None
        assert c.post(url, json={"key": "芙蓉区"}, headers={"X-API-Key": granted.key}).status_code == 403
        # no grant: 403, as for any capability; a grant for one indicator opens no other
        assert c.post(url, json={}, headers={"X-API-Key": stranger.key}).status_code == 403
        other = c.post("/capabilities/indicator_readings/v1/invoke", json={}, headers={"X-API-Key": granted.key})
        assert other.status_code == 403
        assert c.post(url, json={"sql": "select 1"}, headers={"X-API-Key": granted.key}).status_code == 422
    calls = audit.list_entries(action="capability.call")
    assert {e.detail["status"] for e in calls} >= {200, 403}


def test_only_the_owner_may_publish_its_indicator(air: Path) -> None:  # noqa: F811
    aqi()
    from urbanbrain.capability.catalog import register_capability
    from urbanbrain.operate.indicator_capability import capability_spec
    from urbanbrain.operate.indicators import get_indicator

    spec = capability_spec(get_indicator("aqi_good_days"), ["history", "breakdown"])
    spec.owner = "water"  # another department publishing ecology's indicator as its own
    with pytest.raises(PermissionDeniedError, match="belongs to ecology"):
        register_capability(spec, status="published")
