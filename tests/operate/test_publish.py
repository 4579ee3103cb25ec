"""The case tables become governed lake datasets, queryable with SQL under the policy."""

from __future__ import annotations

import pytest

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, URBAN, make_departments, report
from urbanbrain.core.errors import PermissionDeniedError, QueryError
from urbanbrain.govern.principals import ANALYST, SYSTEM, Principal
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import list_datasets
from urbanbrain.operate.cases import create_case, transition
from urbanbrain.operate.publish import publish


def test_publish_and_query_cases() -> None:
    make_departments()
    for k in range(3):
        cid = create_case(report(f"q{k}", reporter="王伟", reporter_contact="13800000000"), DISPATCHER, now=T0)[0]["id"]
        transition(cid, "dispatch", DISPATCHER, department="urban", now=T0)
    with pytest.raises(PermissionDeniedError):
        publish(URBAN)
    names = publish(OPS_HEAD)
    assert names[0] == "hotline.cases.cases"
    rows = run_query("SELECT department, count(*) AS n FROM hotline.cases.cases GROUP BY 1", principal=SYSTEM)
    assert rows.table.to_pylist() == [{"department": "urban", "n": 3}]
    events = run_query("SELECT count(*) AS n FROM hotline.cases.case_events", principal=SYSTEM).table.to_pylist()
    assert events == [{"n": 6}]
    published = sorted(d.name for d in list_datasets(dept="hotline", include_quarantine=False))
    assert published == sorted(names)  # no other metadata table (users, keys, audit) reached the lake
    outsider = Principal("user", "ana", frozenset({"health"}), frozenset({ANALYST}))
    with pytest.raises(QueryError, match=r"no column of hotline\.cases\.cases is visible"):
        run_query("SELECT reporter_contact FROM hotline.cases.cases LIMIT 1", principal=outsider)  # governed
