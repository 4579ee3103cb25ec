"""One clock, in UTC, so tests and the scheduler agree on what "now" is."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now; naive datetimes never cross a module boundary."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were written in UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """A date or date-time typed by a person (`2026-11-24`, `2026-11-24T08:30`), read as UTC when it
    names no zone; raises ValueError with the accepted forms."""
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValueError(f"{text!r} is not a date or date-time; use e.g. 2026-11-24 or 2026-11-24T08:30") from None
