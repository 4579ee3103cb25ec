"""The demo city publishes at least 200 capabilities, each owned, approved by its owner, and some granted
to other departments' applications and metered when called — real reuse, not padding."""

from __future__ import annotations

from urbanbrain.capability.catalog import list_capabilities
from urbanbrain.capability.grants import list_grants
from urbanbrain.capability.metering import usage_stats
from urbanbrain.demo.run import run_demo


def test_demo_city_publishes_and_reuses_capabilities() -> None:
    summary = run_demo(scale="tiny")
    assert summary.ok, summary.failures
    published = list_capabilities(status="published")
    assert len(published) >= 200 and summary.capabilities == len(published)
    assert all(c.owner and c.approved_by for c in published)
    data_apis = [c for c in published if c.kind == "data_api"]
    assert all(c.owner == c.implementation["dataset"].split(".")[0] for c in data_apis)
    grants = list_grants(status="approved")
    assert len(grants) == summary.capability_grants >= 20
    stats = usage_stats()
    assert stats.total_calls >= len(grants)
    assert sum(1 for c in stats.by_capability if c.reuse >= 1) >= 10
