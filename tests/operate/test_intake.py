"""Channels feed one pipeline: located, proposed, created once, dispatched automatically when sure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, make_departments
from urbanbrain.core.errors import ValidationError
from urbanbrain.operate import catalogue
from urbanbrain.operate.cases import get_case, list_cases
from urbanbrain.operate.intake.alerts import handle_alert
from urbanbrain.operate.intake.base import CHANNELS, IntakeChannel, channel, submit

ALERT = {"alert_id": "al-1", "rule": "pm25_high", "device": "aq-017", "feed": "air", "department": "ecology",
         "severity": "major", "raised_at": "2026-03-02T01:00:00+00:00", "message": "PM2.5 above 150 for 30 min",
         "location": {"lon": 112.98, "lat": 28.2}}


@pytest.fixture
def city() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    catalogue.set_rule(OPS_HEAD, "路灯", "housing", district="岳麓区")
    catalogue.set_rule(OPS_HEAD, "alert:pm25_high", "ecology")


def test_every_channel_is_registered_and_follows_the_protocol() -> None:
    assert {"form", "alert", "dataset"} <= set(CHANNELS.names())
    for name in CHANNELS.names():
        assert isinstance(channel(name), IntakeChannel)


def test_form_report_is_located_and_dispatched_by_the_catalogue(city: None) -> None:
    form = channel("form")
    case, created = submit(form.to_report({"description": "路灯不亮", "category": "路灯",
                                           "address": "长沙市芙蓉区五一大道100号", "source_ref": "f1"}),
                           DISPATCHER, now=T0)
    assert created and case["status"] == "dispatched" and case["department"] == "urban"
    assert case["district"] == "芙蓉区"
    reasons = case["proposal"]["proposal"]["reasons"]
    assert any("catalogue: 路灯 in every district → urban" in r for r in reasons)
    yuelu = submit(form.to_report({"description": "路灯坏了", "category": "路灯", "address": "岳麓区麓山南路1号"}),
                   DISPATCHER, now=T0)[0]
    assert yuelu["department"] == "housing"  # the district's own rule wins
    history = get_case(case["id"], DISPATCHER)["history"]
    assert history[-1]["actor"] == "system:auto-dispatch" and history[-1]["detail"]["decision"] == "auto"


def test_unowned_category_and_duplicates_wait_for_a_dispatcher(city: None) -> None:
    form = channel("form")
    nobody = submit(form.to_report({"description": "井盖丢失", "category": "井盖", "lon": 112.98, "lat": 28.19}),
                    DISPATCHER, now=T0)[0]
    assert nobody["status"] == "new" and "nobody owns '井盖'" in " ".join(nobody["proposal"]["proposal"]["reasons"])
    first = submit(form.to_report({"description": "路灯不亮", "category": "路灯", "lon": 112.98, "lat": 28.2}),
                   DISPATCHER, now=T0)[0]
    near = submit(form.to_report({"description": "这里路灯坏了", "category": "路灯", "lon": 112.9803, "lat": 28.2002}),
                  DISPATCHER, now=T0 + timedelta(hours=1))[0]
    assert first["status"] == "dispatched"
    assert near["status"] == "new" and near["proposal"]["proposal"]["duplicates"] == [first["id"]]


def test_bad_reports_leave_nothing_behind(city: None) -> None:
    form = channel("form")
    with pytest.raises(ValidationError, match="no location"):
        submit(form.to_report({"description": "路灯不亮", "category": "路灯"}), DISPATCHER)
    with pytest.raises(ValidationError, match="outside the city"):
        submit(form.to_report({"description": "路灯不亮", "address": "北京市朝阳区建国路1号"}), DISPATCHER)
    with pytest.raises(ValidationError, match="outside the city"):
        submit(form.to_report({"description": "路灯不亮", "lon": 116.4, "lat": 39.9}), DISPATCHER)
    with pytest.raises(ValidationError, match="lon must be a number"):
        form.to_report({"description": "x", "lon": "east", "lat": 1})
    assert list_cases(DISPATCHER) == []


def test_alert_becomes_one_case_per_alert_id(city: None) -> None:
    case = handle_alert(ALERT, now=T0)
    again = handle_alert(ALERT, now=T0 + timedelta(minutes=5))
    assert again["id"] == case["id"]
    assert case["department"] == "ecology" and case["priority"] == "high" and case["reporter"] == "device:aq-017"
    no_place = handle_alert({**ALERT, "alert_id": "al-2", "location": None}, now=T0)
    assert no_place["district"] is None and no_place["status"] == "dispatched"
    with pytest.raises(ValidationError, match="lacks alert_id"):
        handle_alert({**ALERT, "alert_id": ""})
    assert len(list_cases(DISPATCHER)) == 2


def test_alerts_raised_on_the_bus_become_cases_once(city: None) -> None:
    """The real-time layer publishes `alerts.<severity>` with its own field names (`id`, `device_id`);
    raised ones open a case, repeats and later events (acknowledged, cleared) open none."""
    from urbanbrain.core.bus import get_bus, reset_bus
    from urbanbrain.operate.intake.alerts import subscribe_alerts

    reset_bus()
    sub = subscribe_alerts()
    try:
        raised = {"event": "raised", "id": "sal-9", "rule": "pm25_high", "feed": "air", "department": "ecology",
                  "device_id": "aq-017", "severity": "major", "status": "raised", "message": "PM2.5 above 75",
                  "value": "80", "raised_at": "2026-03-02T01:00:00+00:00"}
        get_bus().publish("alerts.major", raised)
        get_bus().publish("alerts.major", raised)
        get_bus().publish("alerts.major", {**raised, "event": "cleared", "id": "sal-10"})
        get_bus().publish("alerts.major", {"event": "raised", "id": "sal-11"})  # malformed: logged, not raised
    finally:
        sub.unsubscribe()
        reset_bus()
    cases = list_cases(DISPATCHER)
    assert len(cases) == 1
    assert cases[0]["reporter"] == "device:aq-017" and cases[0]["department"] == "ecology"


def test_coordinates_are_placed_by_the_district_polygons(city: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from urbanbrain.operate.locate import locate

    # West of the Xiang river, in 岳麓区, but nearer 天心区's centre: nearest-centre placed it wrongly
    west_bank = submit(channel("form").to_report({"description": "路灯不亮", "category": "路灯",
                                                  "lon": 112.95, "lat": 28.14}), DISPATCHER, now=T0)[0]
    assert west_bank["district"] == "岳麓区" and west_bank["department"] == "housing"
    assert "inside the district's boundary" in west_bank["proposal"]["location"]
    # inside the centres' old bounding box, but in no district of Changsha (Xiangtan, to the south-west)
    with pytest.raises(ValidationError, match="none of 430100's districts"):
        locate(None, 112.6, 27.85)
    monkeypatch.setenv("URBANBRAIN_CITY_CODE", "430200")  # Zhuzhou: no polygons bundled → nearest centre
    assert locate(None, 113.13, 27.83).how == "coordinates in the nearest district"
