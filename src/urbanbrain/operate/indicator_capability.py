"""Indicators as capabilities: kind `indicator` — an indicator's current value and history through the gateway.

Every indicator can be published as a capability `indicator_<name>` owned by the indicator's department
(only that department may publish it: `capability.approve` there). The gateway then governs it as any
other capability: a consumer needs a grant approved by the owner, quotas apply, every call is metered
and audited. The owner also decides what the capability shares (`implementation.shares`): the value and
light always, the `history` and the `breakdown` (per district, line ...) only when listed — a consumer
of another department sees nothing more than that, whatever it asks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from urbanbrain.capability.base import CapabilityDefinition, InvokeResult
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern.principals import Principal

SHARES = ("history", "breakdown")
PREFIX = "indicator_"

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "since": {"type": "string", "pattern": r"^\d+\s*(h|d)$", "description": "history window, e.g. 30d or 12h"},
        "key": {"type": "string", "maxLength": 200, "description": "one breakdown key's series (e.g. 芙蓉区)"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
    },
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "value", "state"],
    "properties": {"name": {"type": "string"}, "title_zh": {"type": "string"}, "title_en": {"type": "string"},
                   "unit": {"type": "string"}, "theme": {"type": "string"}, "value": {"type": ["number", "null"]},
                   "state": {"type": "string"}, "stale": {"type": "boolean"},
                   "computed_at": {"type": ["string", "null"]}, "iso_code": {"type": ["string", "null"]},
                   "target": {"type": ["string", "null"]}, "history": {"type": "array"},
                   "breakdown_values": {"type": "object"}}}
PUBLIC_FIELDS = ("name", "title_zh", "title_en", "unit", "theme", "direction", "value", "state", "stale",
                 "computed_at", "iso_code", "target", "warn", "alarm", "department", "breakdown")


def _indicator(definition: CapabilityDefinition) -> str:
    name = definition.implementation.get("indicator")
    if not isinstance(name, str) or not name:
        raise ValidationError("an indicator capability names its indicator",
                              hint='implementation = {"indicator": "<name>", "shares": ["history"]}')
    return name


class IndicatorKind:
    """Answers from the indicator's stored state and series (no query runs on a call)."""

    kind: ClassVar[str] = "indicator"

    def validate(self, definition: CapabilityDefinition) -> None:
        from urbanbrain.meta.db import session_scope
        from urbanbrain.operate.indicators import indicator_row

        shares = definition.implementation.get("shares", [])
        if not isinstance(shares, list) or not set(shares) <= set(SHARES):
            raise ValidationError(f"shares {shares!r} is not a list of {', '.join(SHARES)}")
        with session_scope() as s:
            row = indicator_row(s, _indicator(definition))
            if definition.owner and row.department != definition.owner:
                raise PermissionDeniedError(f"indicator {row.name!r} belongs to {row.department}; only its owner "
                                            "may publish it as a capability", hint=f"owner = {row.department}")

    def inline(self, definition: CapabilityDefinition) -> bool:
        return False

    def invoke(self, definition: CapabilityDefinition, params: dict[str, Any]) -> InvokeResult:
        from urbanbrain.operate.indicators import get_indicator, parse_since

        shares = set(definition.implementation.get("shares", []))
        key = params.get("key")
        if key and "breakdown" not in shares:
            raise PermissionDeniedError("the owner does not share this indicator's breakdown",
                                        hint="ask the owning department to share it (implementation.shares)")
        if "since" in params and "history" not in shares:
            raise PermissionDeniedError("the owner does not share this indicator's history")
        found = get_indicator(_indicator(definition), key=key or None, since=parse_since(params.get("since")),
                              limit=int(params.get("limit", 500)))
        out: dict[str, Any] = {k: found.get(k) for k in PUBLIC_FIELDS}
        out["history"] = found["history"] if "history" in shares else []
        out["breakdown_values"] = found["breakdown_values"] if "breakdown" in shares else {}
        if "breakdown" not in shares:
            out["breakdown"] = None
        return InvokeResult(data=out, rows=len(out["history"]))


def capability_spec(indicator: dict[str, Any], shares: list[str]) -> Any:
    """The catalog entry for one indicator (owned by its department)."""
    from urbanbrain.capability.catalog import CapabilitySpec

    name = indicator["name"]
    iso = f" (ISO {indicator['iso_code']})" if indicator.get("iso_code") else ""
    unit = f"，单位 {indicator['unit']}" if indicator.get("unit") else ""
    return CapabilitySpec(
        name=(PREFIX + name.lower())[:120], title_zh=f"城市体征：{indicator.get('title_zh') or name}",
        title_en=f"Vital sign: {indicator.get('title_en') or name}", category="analytics",
        owner=indicator["department"], kind="indicator",
        description_zh=f"指标 {name} 的当前值、红绿灯状态{'、历史序列' if 'history' in shares else ''}"
                       f"{'、分项（' + str(indicator.get('breakdown')) + '）' if 'breakdown' in shares else ''}"
                       f"{unit}{iso}",
        description_en=f"Indicator {name}: current value and traffic light"
                       f"{', history' if 'history' in shares else ''}"
                       f"{', breakdown by ' + str(indicator.get('breakdown')) if 'breakdown' in shares else ''}{iso}",
        input_schema=INPUT_SCHEMA, output_schema=OUTPUT_SCHEMA,
        implementation={"indicator": name, "shares": sorted(shares)})


def publish_indicator_capabilities(by: Principal | None = None, names: list[str] | None = None,
                                   shares: tuple[str, ...] = ("history",)) -> list[str]:
    """Publish indicators (all, or `names`) as capabilities of their owners; existing ones are kept.

    `shares` is what each owner releases beyond the value (the demo shares the history, not the breakdown)."""
    from urbanbrain.capability.batch import publish_capabilities
    from urbanbrain.operate.indicators import list_indicators

    wanted = set(names) if names else None
    specs = [capability_spec(i, list(shares)) for i in list_indicators() if wanted is None or i["name"] in wanted]
    result = publish_capabilities(specs, by=by)
    return result.published
