"""`case_statistics`: the closed loop's statistics as a built-in capability, callable through the gateway.

Aggregates only (no case, no reporter): counts, on-time rates, satisfaction, returns, hot spots and the
department ranking, computed as the operations centre sees them. Who may call it is decided by the
gateway's grants, approved by the owning department (the operations centre, `hotline` in the demo).
"""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.base import BuiltinSpec

KINDS = ("summary", "departments", "volume", "hot_spots")


def case_statistics(params: dict[str, Any]) -> dict[str, Any]:
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate import stats

    kind = params.get("kind", "summary")
    if kind == "summary":
        return {"kind": kind, "summary": stats.summary(SYSTEM)}
    if kind == "departments":
        return {"kind": kind, "rows": stats.departments(SYSTEM)}
    if kind == "volume":
        return {"kind": kind, "rows": stats.volume(SYSTEM, group=params.get("group", "category"),
                                                   bucket=params.get("bucket", "day"))}
    return {"kind": kind, "rows": stats.hot_spots(SYSTEM, min_cases=int(params.get("min_cases", 3)))}


SPEC = BuiltinSpec(
    name="case_statistics",
    title_zh="城市事件工单统计",
    title_en="City case statistics",
    description_zh="事件闭环（12345、Open311、告警等渠道）的统计：工单量（按类别/区县/部门、按日或月）、"
                   "按时签收率与按时办结率、满意度、退单率、重复高发点位和部门排名；仅返回汇总数据。",
    description_en="Statistics of the event closed loop: case volume by category/district/department per day or "
                   "month, on-time response and resolution rates, satisfaction, return rate, repeat hot spots "
                   "and the department ranking; aggregates only.",
    category="analytics",
    input_schema={
        "type": "object", "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "enum": list(KINDS), "default": "summary"},
            "group": {"type": "string", "enum": ["category", "district", "department"], "default": "category"},
            "bucket": {"type": "string", "enum": ["day", "month"], "default": "day"},
            "min_cases": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 3},
        },
    },
    output_schema={"type": "object", "required": ["kind"],
                   "properties": {"kind": {"type": "string"}, "summary": {"type": "object"},
                                  "rows": {"type": "array", "items": {"type": "object"}}}},
    func=case_statistics,
    owner="hotline",
    examples=[{"params": {"kind": "departments"}}, {"params": {"kind": "volume", "group": "district",
                                                               "bucket": "month"}}],
)
