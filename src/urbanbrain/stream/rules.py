"""Rules over a feed's readings, and the alerts they raise.

Expressions (attribute names as in the readings, durations like `30s`, `10m`, `2h`):

    pm25 > 75                 threshold, at once          (operators > >= < <= == !=)
    pm25 > 75 for 10m         threshold held for a duration (by observation time)
    rate pm25 > 20 per 1m     rate of change (absolute) above a limit per time unit
    pm25 outside 0..500       out of range
    stuck pm25 30m            the same value for a duration
    silent 15m                no reading from the device for a duration (by the clock)

An alert is raised when the condition holds, published on the bus (`alerts.<severity>`), and cleared
when it stops holding; an operator may acknowledge it meanwhile. There is at most one open alert
(raised or acknowledged) per rule and device, so a flapping sensor cannot flood the operators.
The clock is injected (`now`), so tests drive time.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from urbanbrain.core.errors import ValidationError

SEVERITIES = ("critical", "major", "minor", "warning", "info")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
_NUM = r"-?\d+(?:\.\d+)?"
_ATTR = r"[A-Za-z_][A-Za-z0-9_]*"
_DUR = r"\d+(?:\.\d+)?[smhd]"


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not m:
        raise ValidationError(f"{text!r} is not a duration", hint="e.g. 30s, 10m, 2h, 1d")
    return timedelta(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


@dataclass(frozen=True)
class Condition:
    kind: str  # threshold | rate | range | stuck | silent
    attribute: str | None = None
    op: str | None = None
    limit: float | None = None
    low: float | None = None
    high: float | None = None
    duration: timedelta = timedelta(0)
    per: timedelta = timedelta(minutes=1)


def parse_rule(text: str) -> Condition:
    t = " ".join(text.split())
    if m := re.fullmatch(rf"silent ({_DUR})", t):
        return Condition("silent", duration=parse_duration(m.group(1)))
    if m := re.fullmatch(rf"stuck ({_ATTR}) ({_DUR})", t):
        return Condition("stuck", m.group(1), duration=parse_duration(m.group(2)))
    if m := re.fullmatch(rf"({_ATTR}) outside ({_NUM})\.\.({_NUM})(?: for ({_DUR}))?", t):
        return Condition("range", m.group(1), low=float(m.group(2)), high=float(m.group(3)),
                         duration=parse_duration(m.group(4)) if m.group(4) else timedelta(0))
    if m := re.fullmatch(rf"rate ({_ATTR}) (>=|>) ({_NUM}) per ({_DUR})", t):
        return Condition("rate", m.group(1), m.group(2), float(m.group(3)), per=parse_duration(m.group(4)))
    if m := re.fullmatch(rf"({_ATTR}) (>=|<=|==|!=|>|<) ({_NUM})(?: for ({_DUR}))?", t):
        return Condition("threshold", m.group(1), m.group(2), float(m.group(3)),
                         duration=parse_duration(m.group(4)) if m.group(4) else timedelta(0))
    raise ValidationError(f"cannot read the rule {text!r}",
                          hint="e.g. 'pm25 > 75 for 10m', 'rate pm25 > 20 per 1m', 'pm25 outside 0..500', "
                               "'stuck pm25 30m', 'silent 15m'")


@dataclass
class _Track:
    since: datetime | None = None  # when the condition started holding
    last_value: float | None = None
    last_at: datetime | None = None
    value_since: datetime | None = None  # stuck: when the current value started


@dataclass
class Verdict:
    device_id: str
    holds: bool
    message: str = ""
    value: Any = None


@dataclass
class RuleEval:
    """One rule's per-device memory; `observe` and `tick` say whether the alert should be open."""

    rule_id: str
    name: str
    condition: Condition
    tracks: dict[str, _Track] = field(default_factory=dict)

    def observe(self, device: str, at: datetime, attributes: dict[str, Any]) -> Verdict | None:
        c = self.condition
        tr = self.tracks.setdefault(device, _Track())
        if c.kind == "silent":
            tr.last_at = max(at, tr.last_at) if tr.last_at else at
            return Verdict(device, False)
        value = attributes.get(c.attribute or "")
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        v = float(value)
        verdict: Verdict
        if c.kind == "rate":
            holds = False
            if tr.last_value is not None and tr.last_at is not None and at > tr.last_at:
                rate = abs(v - tr.last_value) / ((at - tr.last_at) / c.per)
                assert c.op is not None and c.limit is not None
                holds = OPS[c.op](rate, c.limit)
                verdict = Verdict(device, holds, f"{c.attribute} changed {rate:.3g} per {_fmt(c.per)} "
                                  f"(limit {c.limit:g})", v)
            else:
                verdict = Verdict(device, False)
        elif c.kind == "stuck":
            if tr.last_value != v or tr.value_since is None:
                tr.value_since = at
            held = at - tr.value_since
            verdict = Verdict(device, held >= c.duration, f"{c.attribute} stuck at {v:g} for {_fmt(held)}", v)
        else:
            if c.kind == "range":
                assert c.low is not None and c.high is not None
                holds = not (c.low <= v <= c.high)
                text = f"{c.attribute} = {v:g} outside {c.low:g}..{c.high:g}"
            else:
                assert c.op is not None and c.limit is not None
                holds = OPS[c.op](v, c.limit)
                text = f"{c.attribute} = {v:g} {c.op} {c.limit:g}"
            if holds:
                tr.since = tr.since or at
                held = at - tr.since
                verdict = Verdict(device, held >= c.duration,
                                  text + (f" for {_fmt(held)}" if c.duration else ""), v)
            else:
                tr.since = None
                verdict = Verdict(device, False)
        tr.last_value, tr.last_at = v, at
        return verdict

    def tick(self, now: datetime) -> list[Verdict]:
        """Time-driven checks: silent devices (by the clock)."""
        c = self.condition
        if c.kind != "silent":
            return []
        return [Verdict(d, True, f"no reading for {_fmt(now - tr.last_at)}")
                for d, tr in self.tracks.items() if tr.last_at is not None and now - tr.last_at >= c.duration]


def _fmt(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
