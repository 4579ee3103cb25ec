"""Working time: add N working minutes to a moment, on the city's calendar.

Deadlines counted "in working hours" stop at night, at weekends and on public holidays, and run on
make-up working days (调休, a Saturday worked in exchange for a holiday). Computation is in the
calendar's local time zone; results come back in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from urbanbrain.core.clock import as_utc
from urbanbrain.core.errors import ValidationError

MAX_DAYS = 3660  # a deadline ten years out is a configuration mistake, not a loop to run forever


def parse_hhmm(text: str) -> time:
    try:
        hours, minutes = (int(p) for p in text.split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ValidationError(f"{text!r} is not a time of day; use HH:MM, e.g. 09:00") from None


@dataclass(frozen=True)
class Calendar:
    timezone: str = "Asia/Shanghai"
    day_start: str = "09:00"
    day_end: str = "17:30"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if parse_hhmm(self.day_start) >= parse_hhmm(self.day_end):
            raise ValidationError(f"the working day starts at {self.day_start} but ends at {self.day_end}")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValidationError(f"unknown time zone {self.timezone!r}", hint="use e.g. Asia/Shanghai") from None

    @property
    def day_minutes(self) -> int:
        start, end = parse_hhmm(self.day_start), parse_hhmm(self.day_end)
        return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of working time after `start` (which may fall outside working hours)."""
        zone = ZoneInfo(self.timezone)
        local = as_utc(start).astimezone(zone)
        left = timedelta(minutes=minutes)
        day = local.date()
        begin_t, end_t = parse_hhmm(self.day_start), parse_hhmm(self.day_end)
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                begin = datetime.combine(day, begin_t, zone)
                end = datetime.combine(day, end_t, zone)
                frm = max(begin, local)
                if frm < end:
                    if frm + left <= end:
                        return (frm + left).astimezone(UTC)
                    left -= end - frm
            day += timedelta(days=1)
        raise ValidationError(f"no working time within {MAX_DAYS} days of {start.isoformat()}",
                              hint="check the calendar's weekdays and holidays")

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        """Working minutes in [start, end): what a recount of a clock's elapsed time uses."""
        zone = ZoneInfo(self.timezone)
        a, b = as_utc(start).astimezone(zone), as_utc(end).astimezone(zone)
        total = timedelta()
        day = a.date()
        begin_t, end_t = parse_hhmm(self.day_start), parse_hhmm(self.day_end)
        while day <= b.date():
            if self.is_working_day(day):
                lo = max(datetime.combine(day, begin_t, zone), a)
                hi = min(datetime.combine(day, end_t, zone), b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60
