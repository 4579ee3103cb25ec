"""Python-function indicators: a vital sign SQL cannot express alone, registered by entry point.

An indicator is SQL over lake datasets or a function from the `urbanbrain.indicators` entry-point group
(`FUNCTIONS`), with the same contract: unit, direction, thresholds, breakdown, owner, schedule, ISO
code, history, alerts and stale-on-failure are the indicator's, not the function's. A function gets
one argument, a `Governed` helper acting as the indicator's owner (its department, no roles: exactly
the view an SQL indicator of the same owner gets), and returns

* a number — the city-wide value (an indicator without a breakdown), or
* a mapping or iterable of `(key, value)` — one value per breakdown key, `None` the city-wide total.

Why a helper and no lake handle: everything a function reads passes `govern.query.run_query` as the
owner, so masking, closed fields, row filters and the read audit apply as they do to SQL; other
departments' closed fields are not in the owner's view, so a function cannot read them. A function is
installed code (like a connector): the helper is the interface it is given, not a sandbox against a
hostile package — which packages may register functions is the operator's choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from urbanbrain.core.errors import UrbanBrainError, ValidationError
from urbanbrain.core.registry import Registry
from urbanbrain.govern.principals import Principal

MAX_ROWS = 10_000


class Governed:
    """What a function indicator may do with data: governed SQL as the indicator's owner."""

    __slots__ = ("_principal", "department", "indicator")

    def __init__(self, principal: Principal, department: str, indicator: str) -> None:
        self._principal = principal
        self.department = department
        self.indicator = indicator

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a read-only query over lake datasets, as the owner sees them (at most 10,000;
        more is an error rather than a silently partial answer). `$name` placeholders take `params`.

        Run by `govern.batch.run_queries`, so a function refreshed every few minutes reuses the owner's
        kept connection over the same datasets (checked against the current snapshots and policies
        before each use) instead of building its views again: the same governance, less fixed cost."""
        from urbanbrain.govern.batch import run_queries

        result = run_queries([sql], MAX_ROWS, principal=self._principal, params=[params])[0]
        if isinstance(result, UrbanBrainError):
            raise result
        if result.truncated:
            raise ValidationError(f"the query returns more than {MAX_ROWS} rows", hint="aggregate in SQL")
        return list(result.table.to_pylist())

    def value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """The single value of a one-row, one-column query (None when it returns no row)."""
        rows = self.rows(sql, params)
        if len(rows) > 1 or (rows and len(rows[0]) != 1):
            raise ValidationError("value() needs a query returning one row with one column",
                                  hint="use rows() for more")
        return next(iter(rows[0].values())) if rows else None


IndicatorFunction = Callable[[Governed], Any]
FUNCTIONS: Registry[IndicatorFunction] = Registry("urbanbrain.indicators", "indicator function")


def number(value: Any, key: str) -> float:
    """A finite float, or a `ValidationError` saying why not (NULL, a string, a division by zero)."""
    where = f" for {key!r}" if key else ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        if value is None:
            raise ValidationError(f"the value{where} is NULL", hint="a division by zero or no data: guard with "
                                  "nullif/coalesce, or check the dataset still has rows")
        raise ValidationError(f"the value{where} is not a number ({type(value).__name__})",
                              hint="cast it: `cast(... as double) as value`")
    out = float(value)
    if not math.isfinite(out):
        raise ValidationError(f"the value{where} is {out} (a division by zero?)",
                              hint="guard the denominator with nullif(..., 0)")
    return out


def check_output(result: Any, breakdown: str | None) -> list[tuple[str, float]]:
    """A function's answer as `(key, value)` pairs (key "" for the city-wide value), checked as an SQL
    indicator's rows are: numbers only, one value per key, one value without a breakdown."""
    if isinstance(result, bool) or result is None or isinstance(result, int | float | Decimal):
        pairs: list[tuple[Any, Any]] = [(None, result)]
    elif isinstance(result, Mapping):
        pairs = list(result.items())
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes):
        pairs = []
        for item in result:
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise ValidationError("the function returned an item that is not a (key, value) pair",
                                      hint="return a number, a mapping or (key, value) pairs")
            pairs.append((item[0], item[1]))
    else:
        raise ValidationError(f"the function returned a {type(result).__name__}",
                              hint="return a number, a mapping or (key, value) pairs")
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for raw_key, raw_value in pairs:
        key = "" if raw_key is None or raw_key == "" else str(raw_key)
        if key and not breakdown:
            raise ValidationError(f"the function returned a value for {key!r} but the indicator has no breakdown",
                                  hint="define it with --by <what the keys are>, or return one number")
        if key in seen:
            raise ValidationError(f"the function returned two values for {key or 'the city-wide value'!r}")
        seen.add(key)
        out.append((key, number(raw_value, key)))
    if not breakdown and len(out) != 1:
        raise ValidationError(f"the function returned {len(out)} values; an indicator without a breakdown needs one")
    return out


def evaluate_function(name: str, principal: Principal, department: str, indicator: str,
                      breakdown: str | None) -> list[tuple[str, float]]:
    """Run the registered function `name` as the owner; any failure becomes an `UrbanBrainError` with a
    clear message (the indicator keeps its last good value, marked stale)."""
    fn = FUNCTIONS.get(name)
    try:
        result = fn(Governed(principal, department, indicator))
    except UrbanBrainError:
        raise
    except Exception as exc:  # the function's own bug: the indicator says so, the others go on
        raise ValidationError(f"the function {name!r} failed: {type(exc).__name__}: {exc}") from exc
    return check_output(result, breakdown)
