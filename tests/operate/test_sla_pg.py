"""The PostgreSQL sweep (one statement per kind) raises and records exactly what the portable one does."""

from __future__ import annotations

import pytest

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, make_departments, report
from urbanbrain.core.settings import get_settings
from urbanbrain.operate import sla
from urbanbrain.operate.cases import create_case, get_case, transition


def test_sweep_on_postgres(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    make_departments()
    sla.set_policy(OPS_HEAD, "*", respond="1h", resolve="1d")
    a = create_case(report("a"), DISPATCHER, now=T0)[0]["id"]
    create_case(report("b"), DISPATCHER, now=T0)
    transition(a, "dispatch", DISPATCHER, department="urban", now=T0)
    counts = sla.sweep(T0 + timedelta(days=2))
    assert counts == {"respond.warning": 2, "respond.overdue": 2, "resolve.warning": 2, "resolve.overdue": 2}
    assert sla.sweep(T0 + timedelta(days=3)) == {k: 0 for k in counts}
    assert sla.recount_from_history() == {k: v for k, v in sla.figures().items() if k in counts}
    notes = [e["detail"]["notify"] for e in get_case(a, DISPATCHER)["history"] if e["action"] == "sla.overdue"]
    assert notes == [["urban:dept_admin", "hotline:operator"]] * 2
