"""Helpers for built-ins that read the lake: finding datasets and safe SQL pieces.

Built-ins reach the lake only through `run_query`, which has no bound parameters; every value put into
SQL here is therefore either a quoted identifier checked against the dataset's columns, a number
passed through `float`/`int`, or a string literal with its quotes doubled.
"""

from __future__ import annotations

import math

from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.lake.datasets import get_dataset, list_datasets
from urbanbrain.lake.engine import quote_ident
from urbanbrain.meta.schemas import DatasetPublic


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_number(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{value!r} is not a finite number")
    return repr(number)


def sql_dataset(name: str) -> str:
    return ".".join(quote_ident(p) for p in name.lower().split("."))


def find_dataset(name: str | None, search: str, suffixes: tuple[str, ...], what: str) -> DatasetPublic:
    """The dataset named `name`, or else the first (by name) found by `search` whose object name ends
    with one of `suffixes`; a ValidationError naming what was looked for if there is none."""
    if name:
        try:
            return get_dataset(name)
        except NotFoundError:
            raise ValidationError(f"the lake has no dataset named {name!r} for {what}",
                                  hint="list datasets with `urbanbrain dataset list`") from None
    found = [d for d in list_datasets(search=search, include_quarantine=False)
             if any(d.name.endswith(s) for s in suffixes)]
    if not found:
        raise ValidationError(f"the lake has no {what} dataset (looked for names ending in "
                              f"{', '.join(suffixes)})", hint="sync the system that holds it, or pass its name")
    return found[0]


def require_columns(ds: DatasetPublic, *columns: str) -> None:
    have = {str(c.get("name")) for c in ds.columns}
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValidationError(f"dataset {ds.name} has no column {', '.join(repr(m) for m in missing)}",
                              hint=f"its columns are: {', '.join(sorted(have))}")
