"""A REST system synced end to end: pagination, nested values as JSON text, a value that will not
convert quarantined, a field the API starts sending later kept, and a bad page mid-way leaving the
previous snapshot intact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connect.rest_server import TOKEN, RestServer, serve
from tests.sync.helpers import register, scalar
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.sync.runner import run_sync


@pytest.fixture
def api() -> Iterator[RestServer]:
    yield from serve()


def test_paginated_api_with_auth_syncs_and_resumes(api: RestServer) -> None:
    register("company-api", "rest", {
        "url": api.url, "auth": {"type": "bearer", "token": TOKEN},
        "endpoints": [
            {"name": "companies", "path": "/api/page", "records_path": "data.items", "primary_key": ["id"],
             "cursor_param": "updated_since",
             "pagination": {"type": "page", "page_param": "page", "size_param": "page_size", "size": 3}},
            {"name": "guarded", "path": "/auth/bearer"},
        ],
    })
    run = run_sync("company-api")
    assert run.status == "succeeded", run.error
    row = scalar("select count(*) c, max(address) a from market.company_api.companies")
    assert row["c"] == 7 and '"street"' in row["a"]  # nested objects land as JSON text
    assert scalar("select count(*) c from market.company_api.guarded")["c"] == 2
    assert TOKEN not in str(run.model_dump())


def test_unconvertible_values_are_quarantined_and_late_fields_kept(api: RestServer) -> None:
    register("sensor-api", "rest", {"url": api.url, "endpoints": [
        {"name": "mixed", "path": "/api/mixed", "records_path": "items", "columns": {"count": "int64"}},
        {"name": "grows", "path": "/api/grows", "pagination": {"type": "page", "size": 2}},
    ]}, dept="ecology")
    run = run_sync("sensor-api")
    assert run.status == "succeeded_with_rejects", run.error
    mixed = next(o for o in run.objects if o.object_name == "mixed")
    assert (mixed.rows_read, mixed.rows_written, mixed.rows_rejected) == (4, 3, 1)
    reasons = run_query("select _ub_reason, _ub_record from ecology.sensor_api.mixed__quarantine",
                        principal=SYSTEM).table.to_pylist()
    assert len(reasons) == 1 and "abc" in reasons[0]["_ub_reason"] and '"abc"' in reasons[0]["_ub_record"]
    assert scalar("select count(*) c from ecology.sensor_api.grows")["c"] == 3
    extra = scalar("select max(_extra) e from ecology.sensor_api.grows")["e"]
    assert "430102" in extra  # the field the API started sending later is kept, not dropped


def test_html_page_mid_way_keeps_what_was_synced(api: RestServer) -> None:
    register("flaky-api", "rest", {"url": api.url, "endpoints": [
        {"name": "firms", "path": "/api/page", "records_path": "data.items",
         "pagination": {"type": "page", "size": 3}}]}, dept="civil")
    assert run_sync("flaky-api").status == "succeeded"
    from urbanbrain.connect.systems import update_system

    update_system("flaky-api", options={"url": api.url, "endpoints": [
        {"name": "firms", "path": "/api/bad-second-page", "pagination": {"type": "page", "size": 3}}]})
    run = run_sync("flaky-api")
    assert run.status == "failed"
    assert "firms" in (run.error or "") and "html" in (run.error or "").lower()
    assert scalar("select count(*) c from civil.flaky_api.firms")["c"] == 7
