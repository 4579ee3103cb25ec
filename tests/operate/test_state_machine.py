"""Property: no sequence of actions — allowed or not — breaks a case's invariants."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.operate.helpers import T0, make_departments, report
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.operate.cases import create_case, get_case, transition
from urbanbrain.operate.errors import TransitionNotAllowedError
from urbanbrain.operate.states import OPEN, STATUSES, TRANSITIONS

PARAMS: dict[str, dict[str, Any]] = {
    "dispatch": {"department": "urban"}, "return": {"reason": "not ours"}, "handle": {"note": "working"},
    "feedback": {"note": "done"}, "rate": {"satisfaction": 4}, "reopen": {"reason": "came back"},
}
_refs = itertools.count()
_TARGETS: dict[str, str] = {}


def check_invariants(case: dict[str, Any]) -> None:
    status, history = case["status"], case["history"]
    assert status in STATUSES
    assert case["version"] == len(history)  # one history row per change, none lost
    assert history[0]["action"] == "create"
    for before, after in itertools.pairwise(history):  # the history is one unbroken chain of statuses
        assert after["from_status"] == before["to_status"]
    assert history[-1]["to_status"] == status
    assert (case["department"] is not None) == (status in ("dispatched", "accepted", "handling", "resolved",
                                                           "closed") or (status == "merged"
                                                                         and case["department"] is not None))
    assert (case["resolved_at"] is not None) == (status in ("resolved", "closed"))
    assert (case["closed_at"] is not None) == (status == "closed")
    assert (case["merged_into"] is not None) == (status == "merged")
    if status in ("accepted", "handling", "resolved", "closed"):
        assert case["responded_at"] is not None
    assert case["open"] == (status in OPEN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(TRANSITIONS)), min_size=1, max_size=12))
def test_any_sequence_keeps_invariants(actions: list[str]) -> None:
    home = str(get_settings().home_dir)  # one city per test run (hypothesis calls this many times)
    if home not in _TARGETS:
        make_departments()
        _TARGETS[home] = create_case(report("target"), SYSTEM, now=T0)[0]["id"]
    into = _TARGETS[home]
    cid = create_case(report(f"p{next(_refs)}"), SYSTEM, now=T0)[0]["id"]
    for action in actions:
        before = get_case(cid, SYSTEM)
        params = {"into": into} if action == "merge" else PARAMS.get(action, {})
        if before["status"] in TRANSITIONS[action].sources:
            after = transition(cid, action, SYSTEM, version=before["version"], **params)
            assert after["version"] == before["version"] + 1
        else:
            try:
                transition(cid, action, SYSTEM, version=before["version"], **params)
            except TransitionNotAllowedError:
                pass
            else:
                raise AssertionError(f"{action} from {before['status']} was accepted")
            assert get_case(cid, SYSTEM, with_history=False)["version"] == before["version"]
        check_invariants(get_case(cid, SYSTEM))
