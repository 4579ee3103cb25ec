"""SLA clocks on a controlled clock: working hours and holidays, raised exactly once, across a restart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.operate.helpers import DISPATCHER, OPS_HEAD, URBAN, make_departments, report
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.meta.db import dispose_engines
from urbanbrain.operate import sla
from urbanbrain.operate.calendar import Calendar
from urbanbrain.operate.cases import create_case, get_case, transition


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """March 2026 in Changsha (UTC+8) as UTC."""
    return datetime(2026, 3, day, hh, mm, tzinfo=UTC) - timedelta(hours=8)


def test_working_calendar_arithmetic() -> None:
    cal = Calendar(holidays=frozenset({date(2026, 3, 3)}), workdays=frozenset({date(2026, 3, 7)}))
    assert cal.add_working_minutes(local(2, 9), 60) == local(2, 10)
    assert cal.add_working_minutes(local(2, 17), 60) == local(4, 9, 30)  # Tuesday 3rd is a holiday
    assert cal.add_working_minutes(local(6, 17), 60) == local(7, 9, 30)  # Saturday 7th is a make-up workday
    assert cal.add_working_minutes(local(2, 20), 30) == local(4, 9, 30)  # after hours: starts next working day
    assert cal.working_minutes_between(local(2, 17), local(4, 9, 30)) == 60
    with pytest.raises(ValidationError, match="starts at 18:00 but ends"):
        Calendar(day_start="18:00", day_end="09:00")


def test_policy_input_and_authority() -> None:
    make_departments()
    with pytest.raises(PermissionDeniedError):
        sla.set_policy(DISPATCHER, "路灯", respond="1h", resolve="5d")  # needs the operations centre's head
    with pytest.raises(ValidationError, match="not a duration"):
        sla.set_policy(OPS_HEAD, "路灯", respond="soon", resolve="5d")
    with pytest.raises(ValidationError, match="longer than the resolution"):
        sla.set_policy(OPS_HEAD, "路灯", respond="6d", resolve="5d")
    p = sla.set_policy(OPS_HEAD, "路灯", respond="1h", resolve="5d", working_hours=True)
    assert (p.respond_minutes, p.resolve_minutes) == (60, 5 * 510)


def test_warnings_and_escalations_once_across_restart() -> None:
    make_departments()
    sla.set_policy(OPS_HEAD, "路灯", respond="1h", resolve="5d", working_hours=True)
    sla.set_policy(OPS_HEAD, "*", respond="2h", resolve="1d")
    start = local(2, 9)  # Monday 09:00
    lamp = create_case(report("lamp"), DISPATCHER, now=start)[0]
    other = create_case(report("noise", category="噪音", text="夜间施工"), DISPATCHER, now=start)[0]
    assert lamp["respond_due_at"] == local(2, 10).isoformat()
    assert lamp["respond_warn_at"] == local(2, 9, 48).isoformat()
    assert lamp["resolve_due_at"] == local(6, 17, 30).isoformat()  # five working days: Friday 17:30
    assert other["resolve_due_at"] == (start + timedelta(days=1)).isoformat()  # the city-wide calendar-time policy

    assert sla.sweep(local(2, 9, 47))["respond.warning"] == 0
    assert sla.sweep(local(2, 9, 50))["respond.warning"] == 1
    assert sla.sweep(local(2, 9, 55))["respond.warning"] == 0  # raised once
    dispose_engines()  # a restart: nothing in memory survives, the deadlines are in the database
    counts = sla.sweep(local(2, 10, 40))
    assert counts["respond.overdue"] == 1 and counts["respond.warning"] == 1  # lamp overdue; noise's 80 % passed
    transition(lamp["id"], "dispatch", DISPATCHER, department="urban", now=local(2, 10, 41))
    transition(lamp["id"], "accept", URBAN, now=local(2, 10, 45))
    dispose_engines()
    late = sla.sweep(local(9, 9))  # a week later, the worker was down: everything due is raised, once each
    assert late == {"respond.warning": 0, "respond.overdue": 1, "resolve.warning": 2, "resolve.overdue": 2}
    assert sla.sweep(local(9, 10)) == {k: 0 for k in late}
    assert sla.recount_from_history() == {k: v for k, v in sla.figures().items() if k in late}
    history = get_case(lamp["id"], DISPATCHER)["history"]
    overdue = [e for e in history if e["action"] == "sla.overdue" and e["detail"]["clock"] == "resolve"]
    assert len(overdue) == 1 and overdue[0]["detail"]["notify"] == ["urban:dept_admin", "hotline:operator"]
    figures = sla.figures()
    assert figures["responded_on_time"] == 0 and figures["on_time_response_rate"] == 0.0
