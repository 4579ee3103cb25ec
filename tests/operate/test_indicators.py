"""Indicators: computed on known data (values worked out by hand), one alert per change of light,
history across recomputation, failures kept on the indicator (last good value, stale), governance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.sync.helpers import register
from urbanbrain.core.bus import InProcessBus
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern import audit, users
from urbanbrain.govern.principals import ANALYST, STEWARD, Principal
from urbanbrain.meta.db import get_engine
from urbanbrain.meta.departments import add_department
from urbanbrain.operate.indicator_compute import compute, compute_all
from urbanbrain.operate.indicators import define_indicator, get_indicator, list_indicators
from urbanbrain.sync.runner import run_sync
from urbanbrain.web.app import create_app

# 芙蓉区: 50, 80, 120, 90 → 3 of 4 days good (AQI ≤ 100) = 75 %
# 岳麓区: 40, 60, 70, 200, 30 → 4 of 5 = 80 %; the city: 7 of 9 = 77.78 %
GOOD = [("芙蓉区", 50), ("芙蓉区", 80), ("芙蓉区", 120), ("芙蓉区", 90),
        ("岳麓区", 40), ("岳麓区", 60), ("岳麓区", 70), ("岳麓区", 200), ("岳麓区", 30)]
SHARE = ("select district, 100.0 * count(*) filter (where aqi <= 100) / count(*) as value "
         "from ecology.air.readings group by rollup(district)")

ECO_ANALYST = Principal("user", "eco.ana", frozenset({"ecology"}), frozenset({ANALYST}))
ECO_STEWARD = Principal("user", "eco.steve", frozenset({"ecology"}), frozenset({STEWARD}))
WATER_ANALYST = Principal("user", "water.ana", frozenset({"water"}), frozenset({ANALYST}))
WATER_STEWARD = Principal("user", "water.steve", frozenset({"water"}), frozenset({STEWARD}))


def write(path: Path, rows: list[tuple[str, int]]) -> None:
    path.write_text("day,district,aqi\n" + "".join(f"2026-11-{i + 1:02d},{d},{a}\n" for i, (d, a) in enumerate(rows)),
                    encoding="utf-8")


@pytest.fixture
def air(tmp_path: Path) -> Path:
    path = tmp_path / "readings.csv"
    write(path, GOOD)
    add_department("水务", "water")
    register("air", "files", {"path": str(path)}, dept="ecology")
    assert run_sync("air").status == "succeeded"
    return path


def resync(path: Path, rows: list[tuple[str, int]]) -> None:
    write(path, rows)
    assert run_sync("air").status == "succeeded"


def aqi(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sql": SHARE, "department": "ecology", "title_zh": "空气质量优良天数比例", "unit": "%",
                            "theme": "environment", "breakdown": "district", "target": ">= 85", "warn": "< 80",
                            "alarm": "< 70", "iso_code": "37120:8.1"}
    base.update(kw)
    return define_indicator(ECO_STEWARD, "aqi_good_days", **base)


def collect() -> tuple[InProcessBus, list[tuple[str, dict[str, Any]]]]:
    bus = InProcessBus()
    seen: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe("alerts.>", lambda subject, payload: seen.append((subject, payload)))
    return bus, seen


def test_values_by_hand_with_breakdown_and_light(air: Path) -> None:
    aqi()
    bus, seen = collect()
    out = compute("aqi_good_days", ECO_ANALYST, bus=bus)  # the department's analyst may compute
    assert out["value"] == pytest.approx(700 / 9) and out["state"] == "warn" and not out["stale"]
    shown = get_indicator("aqi_good_days")
    assert shown["breakdown_values"] == {"岳麓区": pytest.approx(80.0), "芙蓉区": pytest.approx(75.0)}
    assert [p["value"] for p in shown["history"]] == [pytest.approx(700 / 9)]
    assert [p["value"] for p in get_indicator("aqi_good_days", key="芙蓉区")["history"]] == [pytest.approx(75.0)]
    assert len(seen) == 1
    subject, alert = seen[0]
    assert subject == "alerts.warning" and alert["event"] == "raised" and alert["department"] == "ecology"
    assert alert["rule"] == "indicator:aqi_good_days" and alert["id"] and alert["raised_at"]
    assert "空气质量优良天数比例" in alert["message"] and alert["where"] == ["全市", "芙蓉区"]
    listed = list_indicators(theme="environment")
    assert [i["name"] for i in listed] == ["aqi_good_days"] and listed[0]["iso_code"] == "37120:8.1"


@pytest.fixture
def metadata_on_postgres(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from urbanbrain.core.settings import get_settings

    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    return pg_db


def test_values_history_and_reads_on_postgres(metadata_on_postgres: str, air: Path) -> None:
    """The store's statements (driver-level points insert, one UPDATE for many rows, the audit append)
    on PostgreSQL: the same values, history and audited reads as on SQLite."""
    assert get_engine().dialect.name == "postgresql"
    aqi()
    for _ in range(2):
        assert compute("aqi_good_days", ECO_ANALYST)["value"] == pytest.approx(700 / 9)
    shown = get_indicator("aqi_good_days")
    assert shown["breakdown_values"] == {"岳麓区": pytest.approx(80.0), "芙蓉区": pytest.approx(75.0)}
    assert [p["value"] for p in shown["history"]] == [pytest.approx(700 / 9)] * 2
    reads = [e for e in audit.list_entries(action="data.read") if e.target == "ecology.air.readings"]
    assert len(reads) == 2 and all(e.principal.endswith("indicator:aqi_good_days") for e in reads)
    assert audit.verify().ok


def test_crossing_raises_exactly_one_alert_and_history_is_kept(air: Path) -> None:
    aqi(breakdown=None, sql="select 100.0 * count(*) filter (where aqi <= 100) / count(*) as value "
                            "from ecology.air.readings")
    bus, seen = collect()
    assert compute("aqi_good_days", bus=bus)["state"] == "warn"  # 77.78 < 80
    assert compute("aqi_good_days", bus=bus)["state"] == "warn"
    assert [p["event"] for _, p in seen] == ["raised"]  # once, not on every refresh
    resync(air, GOOD + [("芙蓉区", 300)] * 3)  # 7 of 12 = 58.33 % < 70: alarm, one more alert
    for _ in range(2):
        assert compute("aqi_good_days", bus=bus)["value"] == pytest.approx(700 / 12)
    assert [(s, p["event"]) for s, p in seen] == [("alerts.warning", "raised"), ("alerts.major", "raised")]
    resync(air, [(d, 10) for d, _ in GOOD])  # 100 %: back to ok, the alert clears
    assert compute("aqi_good_days", bus=bus)["state"] == "ok"
    assert compute("aqi_good_days", bus=bus)["state"] == "ok"
    assert [p["event"] for _, p in seen] == ["raised", "raised", "cleared"]
    assert seen[2][1]["id"] == seen[1][1]["id"]
    history = [p["value"] for p in get_indicator("aqi_good_days")["history"]]
    assert history == pytest.approx([700 / 9, 700 / 9, 700 / 12, 700 / 12, 100.0, 100.0])
    assert len(audit.list_entries(action="indicator.compute")) == 3  # light changes only: →warn, →alarm, →ok


@pytest.mark.parametrize(("sql", "words"), [
    ("select nonsense from ecology.air.readings", "nonsense"),
    ("select district as value, 1 as other from ecology.air.readings", "expected ['value']"),
    ("select aqi as value from ecology.air.readings", "9 rows"),
    ("select 1.0 * sum(aqi) / sum(aqi - aqi) as value from ecology.air.readings", "division by zero"),
    ("select sum(aqi) filter (where aqi < 0) as value from ecology.air.readings", "NULL"),
    ("select count(*) as value from ecology.air.gone", "gone"),
])
def test_failures_keep_the_last_good_value_and_mark_it_stale(air: Path, sql: str, words: str) -> None:
    aqi(breakdown=None, sql="select count(*) as value from ecology.air.readings", warn=None, alarm=None, target=None)
    define_indicator(ECO_STEWARD, "broken", sql="select 1 as value", department="ecology")
    compute("broken")
    define_indicator(ECO_STEWARD, "broken", sql=sql, department="ecology", replace=True)
    results = {r["name"]: r for r in compute_all()}  # one failing never stops the other
    assert results["aqi_good_days"]["value"] == 9 and results["aqi_good_days"]["error"] is None
    broken = results["broken"]
    assert broken["stale"] is True and broken["value"] == 1 and words in broken["error"]
    assert [p["value"] for p in get_indicator("broken")["history"]] == [1]  # nothing appended
    define_indicator(ECO_STEWARD, "broken", sql="select 2 as value", department="ecology", replace=True)
    healed = compute("broken")
    assert healed["value"] == 2 and healed["stale"] is False and healed["error"] is None


def test_an_indicator_reads_as_its_department_never_around_governance(air: Path) -> None:
    from urbanbrain.govern import classification as cls

    cls.set_field("ecology.air.readings", "aqi", level="closed", by=ECO_STEWARD)
    cls.set_field("ecology.air.readings", "district", level="open", by=ECO_STEWARD)
    define_indicator(WATER_STEWARD, "peek", sql="select max(aqi) as value from ecology.air.readings",
                     department="water")
    out = compute("peek")  # even the platform asking: the query runs as water, which may not see aqi
    assert "\"aqi\" not found" in out["error"] and out["value"] is None and out["stale"] is False


def test_every_read_of_a_run_is_in_the_chain_with_its_values(air: Path) -> None:
    """A run's reads are appended in the transaction that stores its values: in the chain as soon as the
    run returns (nothing left in the buffer for a flush thread), one `data.read` per query."""
    aqi(breakdown=None, sql="select count(*) as value from ecology.air.readings")
    define_indicator(ECO_STEWARD, "max_aqi", sql="select max(aqi) as value from ecology.air.readings",
                     department="ecology")
    audit.flush()
    before = {e.seq for e in audit.list_entries(action="data.read", limit=None)}
    with audit.get_buffer()._lock:
        queued = list(audit.get_buffer()._queue)
    assert not queued
    assert {r["name"]: r["value"] for r in compute_all()} == {"aqi_good_days": 9, "max_aqi": 200}
    with audit.get_buffer()._lock:
        assert not [e for e in audit.get_buffer()._queue if e.action == "data.read"]  # already chained
    with get_engine().connect() as conn:  # straight from the table: no flush in between
        rows = conn.execute(text("select principal, target, detail from audit_log where action = 'data.read' "
                                 "order by seq")).all()
    reads = rows[len(before):]
    assert [(r.principal.endswith("indicator:aqi_good_days") or r.principal.endswith("indicator:max_aqi"),
             r.target) for r in reads] == [(True, "ecology.air.readings")] * 2
    assert sorted(json.loads(r.detail)["sql"] for r in reads) == [
        "select count(*) as value from ecology.air.readings", "select max(aqi) as value from ecology.air.readings"]
    assert audit.verify().ok


def test_other_departments_may_not_define_or_compute(air: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        define_indicator(WATER_STEWARD, "x", sql="select 1 as value", department="ecology")
    with pytest.raises(PermissionDeniedError):
        define_indicator(ECO_ANALYST, "x", sql="select 1 as value", department="ecology")  # stewards publish
    aqi()
    with pytest.raises(PermissionDeniedError):
        compute("aqi_good_days", WATER_ANALYST)
    with pytest.raises(PermissionDeniedError):  # taking over another department's indicator
        define_indicator(WATER_STEWARD, "aqi_good_days", sql="select 1 as value", department="water", replace=True)
    assert get_indicator("aqi_good_days")["department"] == "ecology"
    assert next(r for r in compute_all(WATER_ANALYST) if r["name"] == "aqi_good_days")["stale"] is None


def test_api_routes_and_403_for_a_foreign_analyst(air: Path) -> None:
    users.add_user("wa", "pw-long-enough-1", roles=[(ANALYST, "water")])
    users.add_user("es", "pw-long-enough-1", roles=[(STEWARD, "ecology")])
    water = {"Authorization": f"Bearer {users.create_token('wa').token}"}
    eco = {"Authorization": f"Bearer {users.create_token('es').token}"}
    body = {"name": "aqi_good_days", "sql": SHARE, "department": "ecology", "breakdown": "district", "warn": "< 80"}
    with TestClient(create_app()) as client:
        assert client.post("/api/indicators", json=body, headers=water).status_code == 403
        assert client.post("/api/indicators", json={**body, "warn": "below 80"}, headers=eco).status_code == 422
        assert client.post("/api/indicators", json=body, headers=eco).status_code == 201
        assert client.post("/api/indicators/aqi_good_days/compute", headers=water).status_code == 403
        done = client.post("/api/indicators/aqi_good_days/compute", headers=eco)
        assert done.status_code == 200 and done.json()["state"] == "warn"
        one = client.get("/api/indicators/aqi_good_days", headers=water).json()  # reads: a published aggregate
        assert one["breakdown_values"]["芙蓉区"] == pytest.approx(75.0) and len(one["history"]) == 1
        assert [i["name"] for i in client.get("/api/indicators", headers=water).json()] == ["aqi_good_days"]
        assert client.delete("/api/indicators/aqi_good_days", headers=water).status_code == 403
        assert client.delete("/api/indicators/aqi_good_days", headers=eco).status_code == 204


@pytest.mark.parametrize(("field", "text"), [("warn", "less than 80"), ("alarm", ">= eighty"), ("target", "85"),
                                             ("warn", "<< 3")])
def test_an_unparseable_threshold_is_refused_when_defined(air: Path, field: str, text: str) -> None:
    with pytest.raises(ValidationError, match="does not parse"):
        aqi(**{field: text})
    assert list_indicators() == []


def test_other_bad_definitions(air: Path) -> None:
    from urbanbrain.core.errors import ConfigurationError, NotFoundError

    with pytest.raises(ConfigurationError):
        aqi(schedule="every now and then")
    with pytest.raises(ValidationError, match="ISO"):
        aqi(iso_code="9001")
    with pytest.raises(NotFoundError, match="department"):
        define_indicator(None, "x", sql="select 1 as value", department="nowhere")
    assert aqi(schedule="every 1h")["next_run_at"] is not None


def test_the_shell_adds_lists_computes_and_shows(air: Path) -> None:
    import json

    from typer.testing import CliRunner

    from urbanbrain.cli.main import app

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    cli("indicator", "add", "aqi_good_days", "--title", "空气质量优良天数比例", "--unit", "%", "--theme", "environment",
        "--sql", SHARE, "--by", "district", "--schedule", "every 1h", "--target", ">= 85", "--warn", "< 80",
        "--alarm", "< 70", "--owner", "ecology", "--iso", "37120:8.1")
    assert "does not parse" in cli("indicator", "add", "x", "--sql", "select 1 as value", "--owner", "ecology",
                                   "--warn", "about 80", code=1)
    define_indicator(ECO_STEWARD, "broken", sql="select count(*) as value from ecology.air.gone", department="ecology")
    out = cli("indicator", "compute", "--all", "--format", "json")
    rows = {r["name"]: r for r in json.loads(out[:out.rindex("]") + 1])}
    assert rows["aqi_good_days"]["state"] == "warn" and rows["broken"]["error"]
    listed = json.loads(cli("indicator", "list", "--theme", "environment", "--format", "json"))
    assert [r["name"] for r in listed] == ["aqi_good_days"]
    shown = json.loads(cli("indicator", "show", "aqi_good_days", "--since", "30d", "--format", "json"))
    assert shown[0]["breakdown_values"]["芙蓉区"] == pytest.approx(75.0) and len(shown[0]["history"]) == 1
    assert "history" in cli("indicator", "show", "aqi_good_days")


def test_the_alert_becomes_one_case(air: Path) -> None:
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.cases import list_cases
    from urbanbrain.operate.intake.alerts import on_alert_event

    add_department("12345热线", "hotline")  # the operations centre
    aqi()
    bus = InProcessBus()
    bus.subscribe("alerts.>", on_alert_event)
    compute("aqi_good_days", bus=bus)
    compute("aqi_good_days", bus=bus)
    cases = list_cases(SYSTEM)
    assert len(cases) == 1 and cases[0]["category"] == "alert:indicator:aqi_good_days"
    assert cases[0]["channel"] == "alert" and "空气质量优良天数比例" in cases[0]["description"]


def test_the_schedule_says_which_are_due(air: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from urbanbrain.operate.indicator_compute import due

    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    aqi(schedule="every 1h", now=t0)
    define_indicator(ECO_STEWARD, "by_hand", sql="select 1 as value", department="ecology", now=t0)
    assert due(t0 + timedelta(minutes=30)) == []
    assert due(t0 + timedelta(hours=2)) == ["aqi_good_days"]  # manual ones are never due
    assert [r["name"] for r in compute_all(only_due=True, now=t0 + timedelta(hours=2))] == ["aqi_good_days"]
    assert due(t0 + timedelta(hours=2, minutes=30)) == []  # computed: next run an hour later
    assert due(t0 + timedelta(hours=3, minutes=1)) == ["aqi_good_days"]


def test_a_computation_overlapping_the_previous_one_is_skipped_with_an_error(air: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Indicator

    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    aqi(now=t0)
    assert compute("aqi_good_days", now=t0)["running_since"] is None  # released after a run
    with session_scope() as s:  # another worker started computing it a minute ago and has not finished
        s.execute(update(Indicator).values(running_since=t0 + timedelta(minutes=59)))
    skipped = compute("aqi_good_days", now=t0 + timedelta(hours=1))
    assert "still running" in skipped["error"] and skipped["stale"] is True
    assert skipped["value"] == pytest.approx(700 / 9) and len(get_indicator("aqi_good_days")["history"]) == 1
    later = compute("aqi_good_days", now=t0 + timedelta(hours=2))  # a claim older than the timeout has lapsed
    assert later["error"] is None and later["stale"] is False and len(get_indicator("aqi_good_days")["history"]) == 2


def test_the_loop_computes_due_indicators_until_stopped(air: Path) -> None:
    import threading
    from datetime import timedelta

    from urbanbrain.core.clock import utcnow
    from urbanbrain.operate.indicator_compute import compute_loop

    aqi(schedule="every 1h", now=utcnow() - timedelta(hours=2))  # overdue
    stop = threading.Event()
    stop.set()  # one pass, then stop
    assert compute_loop(stop, every=0.01) == 1
    assert len(get_indicator("aqi_good_days")["history"]) == 1
    assert compute_loop(stop, every=0.01) == 0  # not due again for an hour
