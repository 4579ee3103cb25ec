"""Indicator thresholds: `">= 85"`, `"< 80"` — a comparison and a number, parsed when defined.

A threshold that does not parse is refused when the indicator is defined, never discovered at the
first computation. The traffic light is `alarm` when the alarm condition holds, else `warn` when the
warning condition holds, else `ok`; the target is what the city aims for (shown, and `met` says whether
a value reaches it).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from urbanbrain.core.errors import ValidationError

_FORM = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*%?\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "=": operator.eq,
    "!=": operator.ne}

OK, WARN, ALARM, UNKNOWN = "ok", "warn", "alarm", "unknown"
RANK = {UNKNOWN: 0, OK: 1, WARN: 2, ALARM: 3}


@dataclass(frozen=True)
class Threshold:
    op: str
    number: float

    def holds(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        return _OPS[self.op](value, self.number)

    def __str__(self) -> str:
        return f"{self.op} {self.number:g}"


def parse_threshold(text: str | None, what: str = "threshold") -> Threshold | None:
    """`None`/empty for no threshold; otherwise a comparison and a number or a `ValidationError`."""
    if text is None or not text.strip():
        return None
    match = _FORM.match(text)
    if not match:
        raise ValidationError(f"the {what} {text!r} does not parse",
                              hint="write a comparison and a number, e.g. '>= 85', '< 80', '> 0.5'")
    number = float(match.group(2))
    return Threshold(match.group(1), number)


def light(value: float | None, warn: Threshold | None, alarm: Threshold | None) -> str:
    """The traffic light of one value; a missing value is `unknown` (never a green light by default)."""
    if value is None or not math.isfinite(value):
        return UNKNOWN
    if alarm is not None and alarm.holds(value):
        return ALARM
    if warn is not None and warn.holds(value):
        return WARN
    return OK


def worst(states: list[str]) -> str:
    return max(states, key=RANK.__getitem__) if states else UNKNOWN
