"""Complaint routing: a hand-written tiny hotline history, caching by snapshot, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capability.builtins.lake import sqlite_dataset
from urbanbrain.capability.builtins import complaints
from urbanbrain.capability.builtins.complaints import classify
from urbanbrain.core.errors import ValidationError

TICKETS = [
    ("urban", "噪音扰民", ["楼下工地晚上施工噪音太大，吵得睡不着", "广场舞音响声音太大，每天晚上扰民",
                       "夜间施工噪音扰民严重", "酒吧音乐声音太吵影响休息", "装修电钻噪音从早到晚",
                       "工地凌晨还在打桩，噪音很大"]),
    ("ecology", "环境污染", ["工厂排放刺鼻废气，气味难闻", "河道发黑发臭有排污口", "化工厂晚上偷排废水",
                         "烧垃圾冒黑烟污染空气", "养猪场污水直排河里", "工厂烟囱冒黄烟气味刺鼻"]),
    ("transport", "交通出行", ["公交车经常晚点，等车太久", "路口红绿灯配时不合理，拥堵严重", "希望增加公交班次",
                           "地铁站出口没有公交接驳", "公交司机开车太猛", "早高峰路口堵车严重"]),
    ("hrss", "劳动保障", ["老板拖欠工资三个月不发", "公司不给员工缴纳社保", "被公司无故辞退没有补偿",
                      "拖欠农民工工资请求帮助", "加班费一直不发", "单位不签劳动合同"]),
]


@pytest.fixture
def tiny_history(tmp_path: Path) -> str:
    complaints._CACHE.clear()
    rows = [{"ticket_id": f"T{d}{k}", "content": text, "department": dept, "category": cat}
            for d, (dept, cat, texts) in enumerate(TICKETS) for k, text in enumerate(texts)]
    return sqlite_dataset(tmp_path, "hotline", "hotline-tickets", "tickets", rows)


@pytest.mark.parametrize(("text", "department", "category"), [
    ("晚上工地施工噪音吵得没法睡觉", "urban", "噪音扰民"),
    ("附近工厂排放废气，气味刺鼻", "ecology", "环境污染"),
    ("公交车太少了，等车等了四十分钟", "transport", "交通出行"),
    ("老板拖欠我两个月工资", "hrss", "劳动保障"),
])
def test_tiny_history_routes_unseen_complaints(tiny_history: str, text: str, department: str, category: str) -> None:
    r = classify({"text": text})  # the default dataset is found by searching for "tickets"
    assert (r["department"], r["category"]) == (department, category), r
    assert r["top_departments"][0]["label"] == department and len(r["top_departments"]) == 3
    assert 0 < r["confidence"] <= 1
    probs = [t["probability"] for t in r["top_categories"]]
    assert probs == sorted(probs, reverse=True)
    model = r["model"]
    assert model["trained_on"] == 24 and model["test_size"] == 5 and model["source"] == tiny_history
    assert model["baseline_department"] <= 0.4


def test_model_is_cached_by_snapshot_in_memory_and_on_disk(tiny_history: str, ub_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = complaints.model_for({"dataset": tiny_history})
    assert complaints.model_for({"dataset": tiny_history}) is first
    saved = list((ub_home / "models" / "complaints").glob("*.pkl"))
    assert len(saved) == 1
    complaints._CACHE.clear()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("should load from disk, not retrain")

    monkeypatch.setattr(complaints, "train", fail)
    again = complaints.model_for({"dataset": tiny_history})
    assert again.report == first.report


def test_bad_input(tiny_history: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="empty"):
        classify({"text": "   "})
    with pytest.raises(ValidationError, match="no column 'text'"):
        classify({"text": "噪音", "dataset": tiny_history, "text_column": "text"})
    few = sqlite_dataset(tmp_path, "hotline", "tiny-tickets", "tickets",
                         [{"content": "噪音", "department": "urban", "category": "噪音扰民"}] * 3)
    with pytest.raises(ValidationError, match="at least 10"):
        classify({"text": "噪音", "dataset": few})
