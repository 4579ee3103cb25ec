"""Indicators: the city's vital signs (城市体征) as first-class objects — define, list, show, delete.

An indicator is SQL over lake datasets returning a `value` column (and, with a breakdown, the breakdown
column: one row per district, say; a row whose breakdown is NULL is the city-wide total) or a Python
function registered by entry point (`operate.indicator_functions`), with a unit,
a direction (`up`: higher is better), target/warn/alarm thresholds (`">= 85"`, `"< 80"`), an owning
department, a refresh schedule and, where one applies, an ISO 37120/37122 code. Everything is checked
when it is defined (name, thresholds, schedule, owner), so a bad definition never waits for 3 a.m.

Defining an indicator publishes an aggregate of the owner's data to everyone signed in, so only the
owner's admins and stewards (who decide sharing) may define or delete one; computing it
(`operate.indicator_compute`) reads as the owning department through the governed query layer.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from urbanbrain.core.naming import validate_code
from urbanbrain.core.schedule import parse_schedule
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Indicator, IndicatorValue
from urbanbrain.operate.catalogue import require_department
from urbanbrain.operate.thresholds import parse_threshold

DIRECTIONS = ("up", "down")
# what a breakdown column means, as the locale key of its label (`ind.by.<column>`): the console and the
# wall say 按街道 / "by street" instead of the column's name; an unknown column is shown as it is
BREAKDOWNS = {"district": "ind.by.district", "street": "ind.by.street", "grid": "ind.by.grid",
              "category": "ind.by.category", "line": "ind.by.line", "vaccine": "ind.by.vaccine"}
# a `street` (or `grid`) breakdown drills down from districts: its keys are `<district>` for a district's
# row and `<district>/<street>` for a street's, so a district's streets are the keys under its name
NESTED = ("street", "grid")
SEP = "/"
_ISO = re.compile(r"^3712[023]:\d+(\.\d+)*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_SINCE = re.compile(r"^(\d+)\s*(h|d)$")


def indicator_row(s: Session, name: str) -> Indicator:
    row = s.scalar(select(Indicator).where(Indicator.name == name))
    if row is None:
        raise NotFoundError(f"no indicator {name!r}", hint="list indicators with `urbanbrain indicator list`")
    return row


def indicator_public(row: Any) -> dict[str, Any]:
    """An indicator's columns as JSON-ready values (`row`: the ORM object or its columns in a namespace)."""
    out = {name: getattr(row, name) for name in _COLUMNS}
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = as_utc(value).isoformat()
    return out


_COLUMNS = tuple(col.name for col in Indicator.__table__.columns)  # read once: a refresh shows ninety rows


def define_indicator(by: Principal | None, name: str, *, sql: str, department: str, title_zh: str = "",
                     title_en: str = "", unit: str = "", theme: str = "general", direction: str = "up",
                     breakdown: str | None = None, target: str | None = None, warn: str | None = None,
                     alarm: str | None = None, schedule: str | None = None, iso_code: str | None = None,
                     replace: bool = False, now: datetime | None = None, function: str | None = None
                     ) -> dict[str, Any]:
    """Add an indicator (or, with `replace`, redefine one: its history is kept).

    `sql` or `function` (the name of an `urbanbrain.indicators` entry point, `operate.indicator_functions`),
    not both: everything else is the same for the two kinds."""
    by = acting(by)
    validate_code(name, "indicator name")
    dept = department.strip().lower()
    authorize("indicator.define", by, department=dept)
    function = (function or "").strip() or None
    if function and sql.strip():
        raise ValidationError("an indicator is SQL or a function, not both", hint="drop --sql or --function")
    if function:
        from urbanbrain.operate.indicator_functions import FUNCTIONS

        FUNCTIONS.get(function)  # unknown or broken: a ConfigurationError naming the registered ones
    elif not sql.strip():
        raise ValidationError("an indicator needs SQL returning a `value` column (or --function)",
                              hint="e.g. --sql \"select avg(aqi) as value from ecology.air.observations\"")
    if direction not in DIRECTIONS:
        raise ValidationError(f"unknown direction {direction!r}", hint="use 'up' (higher is better) or 'down'")
    if breakdown is not None and not _IDENT.match(breakdown):
        raise ValidationError(f"the breakdown {breakdown!r} is not a column name", hint="e.g. --by district")
    if iso_code and not _ISO.match(iso_code.strip()):
        raise ValidationError(f"the ISO code {iso_code!r} does not parse",
                              hint="write the standard and the indicator number, e.g. 37120:8.1 or 37122:5.2")
    validate_code(theme, "theme")
    for text, what in ((target, "target"), (warn, "warning threshold"), (alarm, "alarm threshold")):
        parse_threshold(text, what)
    plan = parse_schedule(schedule)
    now = now or utcnow()
    with session_scope() as s:
        dept = require_department(s, dept)
        row = s.scalar(select(Indicator).where(Indicator.name == name))
        if row is not None and not replace:
            raise AlreadyExistsError(f"indicator {name!r} already exists",
                                     hint="pass --replace to redefine it (its history is kept)")
        if row is not None:
            authorize("indicator.define", by, department=row.department)  # the current owner agrees too
        else:
            row = Indicator(name=name, created_at=now)
            s.add(row)
        row.sql, row.function, row.department = ("" if function else sql.strip()), function, dept
        row.title_zh, row.title_en = title_zh, title_en
        row.unit, row.theme, row.direction, row.breakdown = unit, theme.lower(), direction, breakdown
        row.target, row.warn, row.alarm = target or None, warn or None, alarm or None
        row.schedule, row.iso_code = plan.text, (iso_code or "").strip() or None
        row.next_run_at = plan.next_after(now)
        row.updated_at, row.updated_by = now, by.label
        s.flush()
        out = indicator_public(row)
        audit.record(by, "indicator.define", f"indicator:{name}",
                     {"department": dept, "sql": row.sql, "function": function, "breakdown": breakdown,
                      "target": row.target, "warn": row.warn, "alarm": row.alarm, "replaced": replace}, session=s)
    return out


def delete_indicator(by: Principal | None, name: str) -> None:
    """Remove an indicator and its history."""
    by = acting(by)
    with session_scope() as s:
        row = indicator_row(s, name)
        authorize("indicator.delete", by, department=row.department)
        s.execute(delete(IndicatorValue).where(IndicatorValue.indicator_id == row.id))
        s.delete(row)
        audit.record(by, "indicator.delete", f"indicator:{name}", {"department": row.department}, session=s)


def list_indicators(theme: str | None = None, department: str | None = None) -> list[dict[str, Any]]:
    """Every indicator (its definition and current state); values are published aggregates."""
    q = select(Indicator).order_by(Indicator.theme, Indicator.name)
    if theme:
        q = q.where(Indicator.theme == theme.lower())
    if department:
        q = q.where(Indicator.department == department.lower())
    with session_scope() as s:
        return [indicator_public(r) for r in s.scalars(q)]


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """`30d` / `12h` before now, or None for the whole history."""
    if not text:
        return None
    match = _SINCE.match(text.strip())
    if not match:
        raise ValidationError(f"cannot read the period {text!r}", hint="use hours or days, e.g. 12h or 30d")
    unit = {"h": timedelta(hours=1), "d": timedelta(days=1)}[match.group(2)]
    return (now or utcnow()) - int(match.group(1)) * unit


def get_indicator(name: str, *, key: str | None = None, since: datetime | None = None,
                  limit: int = 1000) -> dict[str, Any]:
    """The definition, state, latest values per breakdown key and the history (oldest first).

    `key=None` gives the city-wide series and, beside it, the latest value of every breakdown key;
    `key="芙蓉区"` that key's series."""
    with session_scope() as s:
        row = indicator_row(s, name)
        out = indicator_public(row)
        q = select(IndicatorValue).where(IndicatorValue.indicator_id == row.id,
                                         IndicatorValue.key == (key or ""))
        if since is not None:
            q = q.where(IndicatorValue.at >= since)
        points = list(s.scalars(q.order_by(IndicatorValue.at.desc(), IndicatorValue.id.desc()).limit(limit)))
        out["history"] = [{"at": as_utc(p.at).isoformat(), "value": p.value} for p in reversed(points)]
        latest: dict[str, Any] = {}
        if row.computed_at is not None and row.breakdown:
            for p in s.scalars(select(IndicatorValue).where(IndicatorValue.indicator_id == row.id,
                                                            IndicatorValue.at == row.computed_at,
                                                            IndicatorValue.key != "")
                               .order_by(IndicatorValue.key)):
                latest[p.key] = p.value
        out["breakdown_values"] = latest
    out["breakdown_label"] = BREAKDOWNS.get((row.breakdown or "").lower())
    out["breakdown_rows"] = breakdown_rows(row.breakdown, latest)
    return out


def breakdown_rows(breakdown: str | None, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest breakdown as rows for a table: `{key, parent, child, value}`; for a nested breakdown
    (street, grid) each district's row first, then its streets (`parent` the district, `child` the street);
    otherwise `parent` is the key and `child` empty."""
    nested = (breakdown or "").lower() in NESTED
    rows = []
    for key, value in values.items():
        parent, _, child = key.partition(SEP) if nested else (key, "", "")
        rows.append({"key": key, "parent": parent, "child": child, "value": value})
    return sorted(rows, key=lambda r: (r["parent"], r["child"] != "", r["child"]))


def children_of(values: dict[str, Any], parent: str) -> dict[str, Any]:
    """The values of a nested breakdown under `parent` (a district's streets), keyed by the child's name."""
    prefix = parent + SEP
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
