"""Rules over a feed's readings, and the alerts they raise.

Expressions (attribute names as in the readings, durations like `30s`, `10m`, `2h`):

    pm25 > 75                 threshold, at once          (operators > >= < <= == !=)
    pm25 > 75 for 10m         threshold held for a duration (by observation time)
    rate pm25 > 20 per 1m     rate of change (absolute) above a limit per time unit
    pm25 outside 0..500       out of range
    stuck pm25 30m            the same value for a duration
    silent 15m                no reading from the device for a duration (by the clock)
    anomaly pm25 z > 4 over 1h  robust z-score against the device's own last hour (`z > 4`, `over 1h`
                              optional; those are the defaults)

An alert is raised when the condition holds, published on the bus (`alerts.<severity>`), and cleared
when it stops holding; an operator may acknowledge it meanwhile. There is at most one open alert
(raised or acknowledged) per rule and device, so a flapping sensor cannot flood the operators.
The clock is injected (`now`), so tests drive time.
"""

from __future__ import annotations

import operator
import re
from collections import deque
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
ANOMALY_Z = 4.0
ANOMALY_MIN_POINTS = 10  # readings in the window before a reading can be judged
ANOMALY_MAX_POINTS = 512  # the window keeps at most this many readings per device
MAD_SCALE = 1.4826  # as the sensor_anomalies built-in: the MAD as a standard deviation for normal noise


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not m:
        raise ValidationError(f"{text!r} is not a duration", hint="e.g. 30s, 10m, 2h, 1d")
    return timedelta(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


@dataclass(frozen=True)
class Condition:
    kind: str  # threshold | rate | range | stuck | silent | anomaly
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
    if m := re.fullmatch(rf"anomaly ({_ATTR})(?: z > ({_NUM}))?(?: over ({_DUR}))?", t):
        return Condition("anomaly", m.group(1), ">", float(m.group(2) or ANOMALY_Z),
                         duration=parse_duration(m.group(3) or "1h"))
    if m := re.fullmatch(rf"rate ({_ATTR}) (>=|>) ({_NUM}) per ({_DUR})", t):
        return Condition("rate", m.group(1), m.group(2), float(m.group(3)), per=parse_duration(m.group(4)))
    if m := re.fullmatch(rf"({_ATTR}) (>=|<=|==|!=|>|<) ({_NUM})(?: for ({_DUR}))?", t):
        return Condition("threshold", m.group(1), m.group(2), float(m.group(3)),
                         duration=parse_duration(m.group(4)) if m.group(4) else timedelta(0))
    raise ValidationError(f"cannot read the rule {text!r}",
                          hint="e.g. 'pm25 > 75 for 10m', 'rate pm25 > 20 per 1m', 'pm25 outside 0..500', "
                               "'stuck pm25 30m', 'silent 15m', 'anomaly pm25 z > 4 over 1h'")


@dataclass
class _Track:
    since: datetime | None = None  # when the condition started holding
    last_value: float | None = None
    last_at: datetime | None = None
    value_since: datetime | None = None  # stuck: when the current value started
    window: deque[tuple[datetime, float]] = field(default_factory=deque)  # anomaly: recent readings


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
        elif c.kind == "anomaly":
            verdict = _anomaly(device, tr, c, at, v)
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


def _anomaly(device: str, tr: _Track, c: Condition, at: datetime, v: float) -> Verdict:
    """The robust z-score of the sensor_anomalies built-in, over the device's own recent window
    (no daily profile: the window is short): z = (value - median) / (1.4826 * MAD), the MAD floored
    at 1 % of the median's size so a perfectly flat series does not make every wiggle infinite."""
    from statistics import median

    win = tr.window
    while win and at - win[0][0] > c.duration:
        win.popleft()
    values = [x for _, x in win]
    win.append((at, v))
    if len(win) > ANOMALY_MAX_POINTS:
        win.popleft()
    if len(values) < ANOMALY_MIN_POINTS:
        return Verdict(device, False)
    mid = median(values)
    scale = max(median(abs(x - mid) for x in values) * MAD_SCALE, 1e-9 + 0.01 * abs(mid))
    z = (v - mid) / scale
    assert c.limit is not None
    return Verdict(device, abs(z) > c.limit, f"{c.attribute} = {v:g} is {z:+.1f} robust z from the median "
                   f"{mid:g} of the last {_fmt(c.duration)} (limit {c.limit:g})", v)


def _fmt(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
