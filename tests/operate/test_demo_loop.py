"""The demo city's simulated day runs the whole loop: auto-dispatch, inbox, returns, escalations, closes."""

from __future__ import annotations

from tests.operate.helpers import T0
from urbanbrain.demo.cases import run_loop
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.operate import sla, stats


def test_a_simulated_day() -> None:
    r = run_loop(60, start=T0, seed=3)
    assert r.reports == 60 and r.auto_dispatched > 30 and r.inbox > 0
    assert r.closed > 30 and sum(r.escalations.values()) > 0
    assert sla.recount_from_history() == {k: v for k, v in sla.figures().items() if k in sla.recount_from_history()}
    ranking = stats.departments(SYSTEM)
    assert ranking and ranking[0]["rank"] == 1 and sum(d["cases"] for d in ranking) <= 60
