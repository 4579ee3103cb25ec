"""With enough closed cases the city's own text model proposes the category; below the threshold it waits."""

from __future__ import annotations

import pytest

from tests.operate.helpers import OPS_HEAD, T0, make_departments
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.operate import catalogue, dispatch
from urbanbrain.operate.cases import Report, create_case, transition
from urbanbrain.operate.evaluate import live_first_time_right
from urbanbrain.operate.intake.base import channel, submit

HISTORY = {
    ("路灯", "urban"): ["路灯不亮", "路灯坏了晚上很黑", "这条路的路灯一直闪", "小区门口路灯不亮了", "路灯杆倒了"],
    ("噪音", "ecology"): ["工地夜间施工噪音", "广场舞音响太吵", "酒吧噪音扰民", "装修噪音太大", "半夜施工很吵"],
    ("物业", "housing"): ["电梯坏了没人修", "物业不作为", "小区电梯一个月没修", "物业乱收费", "楼道灯物业不管"],
}


def test_category_learned_from_closed_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "MIN_TRAINING", 10)
    monkeypatch.setenv("URBANBRAIN_DISPATCH_THRESHOLD", "0.5")
    dispatch._MODEL.clear()
    make_departments()
    for (category, dept), texts in HISTORY.items():
        catalogue.set_rule(OPS_HEAD, category, dept)
        for k, text in enumerate(texts):
            cid = create_case(Report(text, "history", f"{category}{k}", category=category, lon=112.98, lat=28.2),
                              SYSTEM, now=T0)[0]["id"]
            first = "housing" if k == 0 and dept != "housing" else dept  # one wrong first dispatch per category
            transition(cid, "dispatch", SYSTEM, department=first)
            if first != dept:
                transition(cid, "return", SYSTEM, reason="not ours")
                transition(cid, "dispatch", SYSTEM, department=dept)
            for action, params in (("accept", {}), ("feedback", {"note": "ok"}), ("close", {})):
                transition(cid, action, SYSTEM, **params)
    case, _ = submit(channel("form").to_report({"description": "晚上工地施工噪音吵得睡不着", "lon": 112.95,
                                                "lat": 28.23}), SYSTEM, now=T0)
    proposal = case["proposal"]["proposal"]
    assert proposal["category"] == "噪音" and case["category"] == "噪音"
    assert any("from the text, confidence" in r for r in proposal["reasons"])
    assert (case["status"] == "dispatched") == (proposal["confidence"] >= 0.5)
    live = live_first_time_right()
    assert live["closed"] == 15 and live["first_time_right"] == round(13 / 15, 4)  # 2 wrong first dispatches
