"""Parameters bound as literals, for an engine without prepared statements (Daft's SQL).

DuckDB binds a data API's `$name` placeholders as prepared-statement values. Daft's `daft.sql` takes
no parameters, so for Daft each placeholder is replaced by a SQL literal of its value. Pasting text
into SQL is how injection happens, so binding here is done in two independent steps, and the second
fails closed if the first ever goes wrong:

1. `bind` writes each value as a literal the both engines' tokenizers read the same way: NULL,
   TRUE/FALSE, a Python int or finite float in its plain decimal form, or a string in single quotes
   with each quote doubled (neither DuckDB nor Daft treats a backslash as an escape in a plain
   string literal). Lists, objects, NaN, infinities and NUL characters are refused. Placeholders are
   found by a scanner that skips string literals, quoted names and comments.
2. `check_bound` parses the template and the bound text with DuckDB and compares the two trees node
   by node: they must be identical except that every placeholder became exactly one constant. So a
   value like `x' OR 1=1 --` or `1) UNION SELECT ...` can only ever end up as one constant, or the
   query is refused; it never becomes another statement.
"""

from __future__ import annotations

import math
from typing import Any

from urbanbrain.core.errors import QueryError, ValidationError
from urbanbrain.lake.engine import parse_tree

_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _NAME_START | set("0123456789")


def literal(value: Any) -> str:
    """`value` as a SQL literal both engines read back as exactly that value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{value!r} is not a finite number")
        return repr(float(value))
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError("a parameter value may not contain a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise ValidationError(f"a parameter must be text, a number, true/false or null, not {type(value).__name__}")


def _skip(sql: str, i: int) -> int:
    """The index after the string literal, quoted name or comment starting at `i` (else `i`)."""
    c = sql[i]
    if c in "'\"":
        j = i + 1
        while j < len(sql):
            if sql[j] == c:
                if j + 1 < len(sql) and sql[j + 1] == c:  # a doubled quote inside
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return i


def bind(sql: str, params: dict[str, Any]) -> str:
    """`sql` with each `$name` placeholder replaced by the literal of `params[name]`."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        after = _skip(sql, i)
        if after != i:
            out.append(sql[i:after])
            i = after
            continue
        if sql[i] == "$" and i + 1 < len(sql) and sql[i + 1] in _NAME_START:
            j = i + 1
            while j < len(sql) and sql[j] in _NAME:
                j += 1
            name = sql[i + 1:j]
            if j < len(sql) and sql[j] == "$":
                raise QueryError("dollar-quoted strings cannot be bound for the daft engine",
                                 hint="write the string in single quotes")
            if name not in params:
                raise ValidationError(f"no value for the parameter ${name}", parameter=name)
            out.append(literal(params[name]))
            i = j
            continue
        out.append(sql[i])
        i += 1
    bound = "".join(out)
    if params:
        check_bound(sql, bound)
    return bound


_IGNORED = ("query_location", "named_param_map")  # positions, and the placeholders' own list


def _constant(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("class") == "CONSTANT":
        return True
    return node.get("class") == "CAST" and isinstance(node.get("child"), dict) \
        and node["child"].get("class") == "CONSTANT"


def _same(template: Any, bound: Any) -> bool:
    if isinstance(template, dict):
        if template.get("type") == "VALUE_PARAMETER":
            return _constant(bound)
        if not isinstance(bound, dict) or template.keys() != bound.keys():
            return False
        return all(k in _IGNORED or _same(v, bound[k]) for k, v in template.items())
    if isinstance(template, list):
        return isinstance(bound, list) and len(template) == len(bound) and all(
            _same(a, b) for a, b in zip(template, bound, strict=True))
    return bool(template == bound)


def check_bound(template: str, bound: str) -> None:
    """Refuse unless `bound` is `template` with each placeholder turned into one constant."""
    if not _same(parse_tree(template), parse_tree(bound)):
        raise QueryError("a parameter value changed the query's structure, which is refused",
                         hint="parameters are values; pass text, numbers, true/false or null")
