"""Sync schedules: `manual`, `every 5m` / `every 2h` / `every 1d`, or a 5-field cron expression."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

from urbanbrain.core.errors import ConfigurationError

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days)$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class Schedule:
    text: str

    def next_after(self, moment: datetime) -> datetime | None:
        """When the next run is due after `moment`; None for manual systems."""
        text = self.text.strip()
        if text.lower() == "manual":
            return None
        match = _EVERY.match(text)
        if match:
            return moment + timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
        nxt: datetime = croniter(text, moment).get_next(datetime)
        return nxt


def parse_schedule(text: str | None) -> Schedule:
    """Validate early: a malformed schedule is refused when the system is added, not at 3 a.m."""
    value = (text or "manual").strip()
    if value.lower() == "manual":
        return Schedule("manual")
    match = _EVERY.match(value)
    if match:
        if int(match.group(1)) <= 0:
            raise ConfigurationError(f"schedule {value!r} must have a positive interval")
        return Schedule(value)
    if len(value.split()) == 5 and croniter.is_valid(value):
        return Schedule(value)
    raise ConfigurationError(
        f"malformed schedule {value!r}",
        hint="use 'manual', 'every 5m' (s, m, h, d) or a cron expression like '*/15 * * * *'",
    )
