"""People and departments of a small city for the operate tests."""

from __future__ import annotations

from datetime import UTC, datetime

from urbanbrain.govern.principals import DEPT_ADMIN, OPERATOR, Principal
from urbanbrain.meta.departments import add_department
from urbanbrain.operate.cases import Report

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Changsha

DISPATCHER = Principal("user", "disp", frozenset({"hotline"}), frozenset({OPERATOR}))
OPS_HEAD = Principal("user", "opshead", frozenset({"hotline"}), frozenset({DEPT_ADMIN}))
URBAN = Principal("user", "urban.handler", frozenset({"urban"}), frozenset({OPERATOR}))
URBAN_HEAD = Principal("user", "urban.head", frozenset({"urban"}), frozenset({DEPT_ADMIN}))
HOUSING = Principal("user", "housing.handler", frozenset({"housing"}), frozenset({OPERATOR}))
OUTSIDER = Principal("user", "nobody", frozenset({"health"}), frozenset({OPERATOR}))


def make_departments() -> None:
    for code, name in (("hotline", "12345热线"), ("urban", "城管"), ("housing", "住建"), ("health", "卫健"),
                       ("ecology", "生态环境")):
        add_department(name, code)


def report(ref: str = "r1", text: str = "五一大道路灯不亮", **kw: object) -> Report:
    base: dict[str, object] = {"description": text, "channel": "api", "source_ref": ref, "category": "路灯",
                               "address": "长沙市芙蓉区五一大道100号"}
    base.update(kw)
    return Report(**base)  # type: ignore[arg-type]
