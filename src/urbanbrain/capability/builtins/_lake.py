"""Helpers for built-ins that read the lake: their caller, finding datasets and safe SQL pieces.

Every read a built-in makes runs as its caller (`caller()`: the consumer the gateway vouched for), so a
built-in shows nothing of a dataset its caller could not read with SQL, and names no column the caller
cannot see, not even in an error. Built-ins reach the lake only through `run_query`, which has no bound
parameters; every value put into SQL here is therefore either a quoted identifier checked against the
caller's columns of the dataset, a number passed through `float`/`int`, or a string literal with its
quotes doubled.
"""

from __future__ import annotations

import math

from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.govern.context import current_caller
from urbanbrain.govern.policy import RAW, policy_for
from urbanbrain.govern.principals import Principal
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


def caller() -> Principal:
    """Who this built-in reads for; refused when nobody vouched for a caller."""
    return current_caller()[0]


def visible_columns(name: str, principal: Principal | None = None, *, in_clear: bool = False) -> list[str]:
    """The columns of `name` the caller sees (only those shown unmasked with `in_clear`)."""
    policy = policy_for(principal or caller(), name)
    return [c.name for c in policy.columns if not in_clear or c.method == RAW]


def require_columns(ds: DatasetPublic, *columns: str, principal: Principal | None = None) -> None:
    """Each of `columns` is one the caller (or `principal`) sees; the error lists only the columns they see."""
    have = set(visible_columns(ds.name, principal))
    if not have:
        raise PermissionDeniedError(f"you may see no column of dataset {ds.name}",
                                    hint="request fields from its department (`urbanbrain share request`)")
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValidationError(f"dataset {ds.name} has no column {', '.join(repr(m) for m in missing)}",
                              hint=f"its columns you may see are: {', '.join(sorted(have))}")
