"""Hints for a dataset name that was not found: the normalised spelling that exists.

A system called `cs-geo` lands as `geo.cs_geo.<object>` (every part through `sql_identifier`); users
type what they saw in the system list. Telling them the exact name that works beats a bare
"no dataset named".
"""

from __future__ import annotations

from urbanbrain.core.naming import sql_identifier

GENERIC = ("dataset names are department.system.object, lower case with '_' for '-' and spaces; "
           "list them with `urbanbrain dataset list`")


def dataset_name_hint(parts: tuple[str, ...] | list[str]) -> str:
    """`did you mean geo.cs_geo.stations?` when a normalised spelling exists, else the general rule."""
    from urbanbrain.lake.catalog import get_catalog

    normal = tuple(sql_identifier(p) or p for p in parts)
    name = ".".join(normal)
    catalog = get_catalog()
    try:
        if len(normal) == 3 and normal != tuple(parts) and catalog.table_exists(normal):
            return f"did you mean {name}?"
        if len(normal) == 2:
            tables = sorted(".".join(t) for t in catalog.list_tables(normal))
            if tables:
                shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
                return f"did you mean one of {shown}? ({name} is a system; its datasets have a third part)"
    except Exception:  # a hint must never hide the real error
        return GENERIC
    if normal != tuple(parts):
        return f"did you mean {name}? ({GENERIC})"
    return GENERIC
