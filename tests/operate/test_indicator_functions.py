"""Function indicators (`operate.indicator_functions`): the same contract as SQL indicators — values by hand,
lights, history, stale on failure, one failing never stopping the rest — read only through the governed
helper acting as the owner: a function cannot see another department's closed field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.operate.test_indicators import ECO_STEWARD, GOOD, WATER_STEWARD, air, resync, write  # noqa: F401  (the fixture)
from urbanbrain.core.errors import ConfigurationError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.operate.indicator_compute import compute, compute_all
from urbanbrain.operate.indicator_functions import FUNCTIONS, Governed, check_output
from urbanbrain.operate.indicators import define_indicator, get_indicator

SHARE = ("select district, 100.0 * count(*) filter (where aqi <= 100) / count(*) as share "
         "from ecology.air.readings group by district")


def good_days(q: Governed) -> dict[str | None, float]:
    """Per district from one query, the city-wide value from a second one (values worked out in
    tests/operate/test_indicators.py: 芙蓉区 75 %, 岳麓区 80 %, the city 7 of 9)."""
    out: dict[str | None, float] = {r["district"]: r["share"] for r in q.rows(SHARE)}
    out[None] = q.value("select 100.0 * count(*) filter (where aqi <= $good) / count(*) from ecology.air.readings",
                        {"good": 100})
    return out


def define(name: str, function: str, department: str = "ecology", by: Any = ECO_STEWARD, **kw: Any) -> None:
    base: dict[str, Any] = {"breakdown": "district", "warn": "< 80", "alarm": "< 70", "unit": "%"}
    base.update(kw)
    define_indicator(by, name, sql="", function=function, department=department, **base)


def test_a_function_indicator_by_hand_with_light_history_and_audit(air: Path) -> None:  # noqa: F811
    FUNCTIONS.add("good_days", good_days)
    define("aqi_fn", "good_days")
    first = compute("aqi_fn")
    assert first["value"] == pytest.approx(700 / 9) and first["state"] == "warn" and first["error"] is None
    assert first["function"] == "good_days" and first["sql"] == ""
    shown = get_indicator("aqi_fn")
    assert shown["breakdown_values"] == {"岳麓区": pytest.approx(80.0), "芙蓉区": pytest.approx(75.0)}
    resync(air, [("芙蓉区", 50), ("岳麓区", 60)])
    second = next(r for r in compute_all() if r["name"] == "aqi_fn")
    assert second["value"] == 100.0 and second["state"] == "ok"
    assert [p["value"] for p in get_indicator("aqi_fn")["history"]] == [pytest.approx(700 / 9), 100.0]
    audit.flush()
    reads = [e for e in audit.list_entries(action="data.read") if e.principal.endswith("indicator:aqi_fn")]
    assert len(reads) >= 4 and {e.target for e in reads} == {"ecology.air.readings"}


def test_a_function_cannot_read_another_departments_closed_field(air: Path) -> None:  # noqa: F811
    from urbanbrain.govern import classification as cls

    cls.set_field("ecology.air.readings", "aqi", level="closed", by=ECO_STEWARD)
    cls.set_field("ecology.air.readings", "district", level="open", by=ECO_STEWARD)
    FUNCTIONS.add("peek", lambda q: q.value("select max(aqi) from ecology.air.readings"))
    FUNCTIONS.add("peek_star", lambda q: max(r.get("aqi", -1) for r in q.rows("select * from ecology.air.readings")))
    FUNCTIONS.add("peek_file", lambda q: q.value("select count(*) from read_csv('/etc/passwd')"))
    define("peek", "peek", department="water", by=WATER_STEWARD, breakdown=None)
    define("peek_star", "peek_star", department="water", by=WATER_STEWARD, breakdown=None)
    define("peek_file", "peek_file", department="water", by=WATER_STEWARD, breakdown=None)
    out = {r["name"]: r for r in compute_all()}  # the platform asking: the functions still read as water
    assert "\"aqi\" not found" in out["peek"]["error"] and out["peek"]["value"] is None
    assert out["peek_star"]["value"] == -1  # the open columns only: aqi is not in water's view at all
    assert out["peek_file"]["value"] is None and out["peek_file"]["error"]


def test_a_failing_function_keeps_its_last_good_value_and_the_others_go_on(air: Path) -> None:  # noqa: F811
    calls: list[int] = []

    def flaky(q: Governed) -> float:
        calls.append(1)
        if len(calls) > 1:
            raise ZeroDivisionError("division by zero")
        return float(q.value("select count(*) from ecology.air.readings"))

    FUNCTIONS.add("flaky", flaky)
    FUNCTIONS.add("good_days", good_days)
    define("flaky", "flaky", breakdown=None, warn=None, alarm=None)
    define("aqi_fn", "good_days")
    define_indicator(ECO_STEWARD, "rows", sql="select count(*) as value from ecology.air.readings",
                     department="ecology")
    assert compute("flaky")["value"] == 9
    out = {r["name"]: r for r in compute_all()}
    assert out["flaky"]["value"] == 9 and out["flaky"]["stale"] is True
    assert "ZeroDivisionError" in out["flaky"]["error"]
    assert out["aqi_fn"]["error"] is None and out["rows"]["value"] == 9


@pytest.mark.parametrize(("result", "breakdown", "words"), [
    ("12", None, "returned a str"),
    ({"芙蓉区": 1.0}, None, "has no breakdown"),
    (float("nan"), None, "nan"),
    (None, None, "NULL"),
    ([("a", 1), ("a", 2)], "district", "two values"),
    ([1, 2], "district", "not a (key, value) pair"),
    ({"a": 1, "b": 2}, None, "has no breakdown"),
])
def test_wrong_shapes_are_clear_errors(result: Any, breakdown: str | None, words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_output(result, breakdown)


def test_shapes_that_are_fine() -> None:
    assert check_output(3, None) == [("", 3.0)]
    assert check_output({None: 1, "a": 2}, "district") == [("", 1.0), ("a", 2.0)]
    assert check_output(iter([("a", 2)]), "district") == [("a", 2.0)]


def test_bad_definitions_are_refused(air: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigurationError, match="unknown indicator function"):
        define("x", "no_such_function")
    FUNCTIONS.add("good_days", good_days)
    with pytest.raises(ValidationError, match="not both"):
        define_indicator(ECO_STEWARD, "x", sql="select 1 as value", function="good_days", department="ecology")
    with pytest.raises(ValidationError, match="or --function"):
        define_indicator(ECO_STEWARD, "x", sql=" ", department="ecology")


def test_the_shell_lists_functions_and_adds_one(air: Path) -> None:  # noqa: F811
    from typer.testing import CliRunner

    from urbanbrain.cli.main import app

    FUNCTIONS.add("good_days", good_days)
    listed = CliRunner().invoke(app, ["indicator", "functions", "--format", "json"])
    assert listed.exit_code == 0 and "good_days" in listed.output and "hotline_backlog_days" in listed.output
    added = CliRunner().invoke(app, ["indicator", "add", "aqi_fn", "--function", "good_days", "--owner", "ecology",
                                     "--by", "district", "--unit", "%"])
    assert added.exit_code == 0, added.output
    assert compute("aqi_fn")["value"] == pytest.approx(700 / 9)


def test_the_console_page_names_the_function(air: Path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from urbanbrain.govern.users import add_user, create_token
    from urbanbrain.web.app import create_app

    FUNCTIONS.add("good_days", good_days)
    define("aqi_fn", "good_days")
    add_user("eco.reader", "correct horse battery", roles=[("analyst", "ecology")])
    with TestClient(create_app()) as client:
        page = client.get("/indicators/aqi_fn", headers={"Authorization": f"Bearer {create_token('eco.reader').token}"})
    assert page.status_code == 200 and "good_days" in page.text and "<th>SQL</th>" not in page.text
