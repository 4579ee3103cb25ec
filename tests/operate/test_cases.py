"""Cases change only through allowed transitions, authorised by role and department, recorded twice."""

from __future__ import annotations

import pytest

from tests.operate.helpers import DISPATCHER, HOUSING, OUTSIDER, T0, URBAN, URBAN_HEAD, make_departments, report
from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.operate.cases import create_case, get_case, list_cases, transition
from urbanbrain.operate.errors import StaleVersionError, TransitionNotAllowedError


@pytest.fixture
def city() -> None:
    make_departments()


def test_full_loop_records_history_and_audit(city: None) -> None:
    case, created = create_case(report(), DISPATCHER, now=T0)
    assert created and case["status"] == "new" and case["version"] == 1
    cid = case["id"]
    transition(cid, "dispatch", DISPATCHER, version=1, department="urban", now=T0)
    transition(cid, "accept", URBAN, version=2, now=T0)
    transition(cid, "handle", URBAN, version=3, note="crew on site", now=T0)
    transition(cid, "feedback", URBAN_HEAD, version=4, note="lamp replaced", now=T0)
    transition(cid, "rate", DISPATCHER, version=5, satisfaction=5, now=T0)
    done = transition(cid, "close", DISPATCHER, version=6, now=T0)
    assert done["status"] == "closed" and done["satisfaction"] == 5 and done["version"] == 7
    full = get_case(cid, DISPATCHER)
    assert [e["action"] for e in full["history"]] == ["create", "dispatch", "accept", "handle", "feedback", "rate",
                                                      "close"]
    assert [e["to_status"] for e in full["history"]][-1] == "closed"
    audit.flush()
    actions = [e.action for e in audit.list_entries(action=None, limit=100) if e.target == f"case:{cid}"]
    assert sorted(actions) == sorted(["case.create", "case.dispatch", "case.accept", "case.handle", "case.feedback",
                                      "case.rate", "case.close"])
    assert audit.verify().ok


def test_same_report_twice_is_one_case(city: None) -> None:
    first, created = create_case(report("dup"), DISPATCHER, now=T0)
    again, created_again = create_case(report("dup", text="changed"), DISPATCHER, now=T0)
    assert created and not created_again and again["id"] == first["id"]


def test_transition_not_allowed_from_state(city: None) -> None:
    cid = create_case(report(), DISPATCHER, now=T0)[0]["id"]
    with pytest.raises(TransitionNotAllowedError, match=r"cannot close .* it is new"):
        transition(cid, "close", DISPATCHER)
    assert get_case(cid, DISPATCHER)["version"] == 1


def test_stale_version_is_refused(city: None) -> None:
    cid = create_case(report(), DISPATCHER, now=T0)[0]["id"]
    transition(cid, "dispatch", DISPATCHER, version=1, department="urban")
    with pytest.raises(StaleVersionError, match="version 2, you acted on version 1"):
        transition(cid, "dispatch", DISPATCHER, version=1, department="housing")
    assert get_case(cid, DISPATCHER)["department"] == "urban"


def test_authorisation_by_department(city: None) -> None:
    cid = create_case(report(), DISPATCHER, now=T0)[0]["id"]
    with pytest.raises(PermissionDeniedError):
        transition(cid, "dispatch", URBAN, department="urban")  # a department cannot dispatch to itself
    transition(cid, "dispatch", DISPATCHER, department="urban")
    with pytest.raises(PermissionDeniedError, match="department 'urban'"):
        transition(cid, "accept", HOUSING)  # another department's handler
    with pytest.raises(PermissionDeniedError):
        get_case(cid, OUTSIDER)
    assert list_cases(OUTSIDER) == []
    assert [c["id"] for c in list_cases(URBAN)] == [cid]
    with pytest.raises(PermissionDeniedError):
        create_case(report("x"), URBAN)


def test_bad_input(city: None) -> None:
    cid = create_case(report(), DISPATCHER, now=T0)[0]["id"]
    with pytest.raises(NotFoundError, match="unknown department 'parks'"):
        transition(cid, "dispatch", DISPATCHER, department="parks")
    transition(cid, "dispatch", DISPATCHER, department="urban")
    with pytest.raises(ValidationError, match="reason"):
        transition(cid, "return", URBAN)
    back = transition(cid, "return", URBAN, reason="not ours: it is a housing estate lamp")
    assert back["status"] == "returned" and back["department"] is None and back["returns"] == 1
    with pytest.raises(ValidationError, match="no description"):
        create_case(report("e", text="  "), DISPATCHER)
    with pytest.raises(NotFoundError):
        transition("C-nope", "accept", URBAN)
    other = create_case(report("o"), DISPATCHER, now=T0)[0]["id"]
    merged = transition(other, "merge", DISPATCHER, into=cid)
    assert merged["status"] == "merged" and merged["merged_into"] == cid
    with pytest.raises(TransitionNotAllowedError):
        transition(create_case(report("p"), DISPATCHER)[0]["id"], "merge", DISPATCHER, into=other)


def test_feedback_photos_checked_before_anything_changes(city: None) -> None:
    from urbanbrain.core.errors import PayloadTooLargeError
    from urbanbrain.operate.attachments import Upload

    cid = create_case(report(), DISPATCHER, now=T0)[0]["id"]
    transition(cid, "dispatch", DISPATCHER, department="urban")
    transition(cid, "accept", URBAN)
    huge = Upload("after.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024))
    ok = Upload("before.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\1" * 1000)
    with pytest.raises(PayloadTooLargeError, match=r"after.jpg is 21.0 MB"):
        transition(cid, "feedback", URBAN, note="fixed", photos=[ok, huge])
    with pytest.raises(ValidationError, match="does not look like image/png"):
        transition(cid, "feedback", URBAN, note="fixed", photos=[Upload("x.png", "image/png", b"GIF89a")])
    case = get_case(cid, DISPATCHER)
    assert case["status"] == "accepted" and case["version"] == 3
    done = transition(cid, "feedback", URBAN, note="fixed", photos=[ok])
    assert done["status"] == "resolved"
    assert len(get_case(cid, DISPATCHER)["history"][-1]["detail"]["attachments"]) == 1
