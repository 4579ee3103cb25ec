"""Text columns → typed Arrow columns, with every value that does not fit sent to quarantine.

Department exports (CSV, Excel, JSON) carry no reliable types, so the file connectors read every
column as text, infer one type per column from a sample (`infer_specs`) and convert each batch with
`convert_batch`. Conversion never fails a batch: a row with a value that does not parse is taken out
and returned as a `Reject` with the original row and the reason, so nothing is silently dropped.

Inference looks at every value of the object (`Inference`, fed batch by batch over the whole file), so
a value late in a file can never contradict a type chosen from its first rows; missing-value tokens
(`NA`, `N/A`, `NULL`, `null`, `NaN`, `-` and the empty string by default, see `null_tokens`) are nulls
before inference and conversion. It is deliberately conservative:

* candidates, in order: date32 from `YYYYMMDD` (years 1900-2099), int64, float64,
  bool (`true`/`false` only), date32, timestamp[us] (ISO or a
  handful of common layouts such as `04/12/2018 11:11:26 AM` or `2018/04/12 11:11`),
  timestamp[us, UTC] (ISO with `Z` or an offset), else string;
* a column keeps its text when any sampled value has a leading zero (`007`, zip and area codes) or
  is a run of 11+ digits (mobile, resident ID and bank card numbers are identifiers, not numbers);
* surrounding whitespace is ignored when parsing; empty strings are null.

Non-ISO date layouts are parsed with `strptime` and then checked field by field against the text,
because `strptime` silently rolls `2020-02-30` over to March.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.connect.base import Reject

SAMPLE_ROWS = 10_000

_INT = r"^[+-]?\d{1,18}$"
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?(nan|inf|infinity))$"
_BOOL = r"^(?i:true|false)$"
_LEADING_ZERO = r"^[+-]?0\d"
_LONG_DIGITS = r"^[+-]?\d{11,}$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_TS = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$"
_ISO_TZ = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"

_Y, _MO, _D = r"(?P<y>\d{4})", r"(?P<mo>\d{1,2})", r"(?P<d>\d{1,2})"
_HMS = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"


@dataclass(frozen=True)
class Layout:
    """A non-ISO date/time layout: a `strptime` format plus a regex naming its fields."""

    name: str
    fmt: str
    regex: str
    twelve_hour: bool = False


_DATE_LAYOUTS = [
    Layout("ymd_compact", "%Y%m%d", r"^(?P<y>(?:19|20)\d{2})(?P<mo>\d{2})(?P<d>\d{2})$"),
    Layout("ymd_slash", "%Y/%m/%d", rf"^{_Y}/{_MO}/{_D}$"),
    Layout("ymd_cn", "%Y年%m月%d日", rf"^{_Y}年{_MO}月{_D}日$"),
    Layout("mdy_slash", "%m/%d/%Y", rf"^{_MO}/{_D}/{_Y}$"),
]
_TS_LAYOUTS = [
    Layout("ymd_slash_hms", "%Y/%m/%d %H:%M:%S", rf"^{_Y}/{_MO}/{_D} {_HMS}$"),
    Layout("ymd_slash_hm", "%Y/%m/%d %H:%M", rf"^{_Y}/{_MO}/{_D} {_HMS}$"),
    Layout("mdy_hms_p", "%m/%d/%Y %I:%M:%S %p", rf"^{_MO}/{_D}/{_Y} {_HMS} (?P<p>[AaPp][Mm])$", True),
    Layout("mdy_hm_p", "%m/%d/%Y %I:%M %p", rf"^{_MO}/{_D}/{_Y} {_HMS} (?P<p>[AaPp][Mm])$", True),
    Layout("mdy_hms", "%m/%d/%Y %H:%M:%S", rf"^{_MO}/{_D}/{_Y} {_HMS}$"),
    Layout("mdy_hm", "%m/%d/%Y %H:%M", rf"^{_MO}/{_D}/{_Y} {_HMS}$"),
    Layout("ymd_cn_hms", "%Y年%m月%d日 %H:%M:%S", rf"^{_Y}年{_MO}月{_D}日 {_HMS}$"),
]
_LAYOUTS = {lay.name: lay for lay in _DATE_LAYOUTS + _TS_LAYOUTS}

TS = pa.timestamp("us")
TS_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ColumnSpec:
    """How one text column becomes typed: the Arrow type and the parser that produces it.

    `parser` is one of `string`, `int`, `float`, `bool`, `iso_date`, `iso_ts`, `iso_tz`, or
    `date:<layout>` / `ts:<layout>` for the non-ISO layouts above.
    """

    name: str
    type: pa.DataType
    parser: str = "string"


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(values, pattern), False)


def _safe_cast(values: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast, turning the odd value the regex let through (overflow, 2021-02-29) into null."""
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out: list[Any] = []
        for v in values.to_pylist():
            if v is None:
                out.append(None)
                continue
            try:
                out.append(pc.cast(pa.array([v], pa.string()), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, target)


def _parse_layout(values: pa.Array, layout: Layout, target: pa.DataType) -> pa.Array:
    unit = "s" if target == pa.date32() else "us"
    parsed = pc.strptime(values, format=layout.fmt, unit=unit, error_is_null=True)
    parts = pc.extract_regex(values, layout.regex)  # null where the regex does not match
    ok = pc.is_valid(parts)
    checks = [("y", pc.year), ("mo", pc.month), ("d", pc.day), ("mi", pc.minute)]
    for group, fn in checks:
        if group not in layout.regex:
            continue
        want = _safe_cast(pc.struct_field(parts, group), pa.int64())
        ok = pc.and_kleene(ok, pc.equal(want, pc.cast(fn(parsed), pa.int64())))
    if "(?P<h>" in layout.regex:
        hour = pc.cast(pc.hour(parsed), pa.int64())
        want = _safe_cast(pc.struct_field(parts, "h"), pa.int64())
        if layout.twelve_hour:
            ok = pc.and_kleene(ok, pc.less_equal(want, 12))
            hour = pc.subtract(hour, pc.multiply(pc.divide(hour, 12), 12))
            want = pc.subtract(want, pc.multiply(pc.divide(want, 12), 12))
        ok = pc.and_kleene(ok, pc.equal(want, hour))
    ok = pc.fill_null(ok, False)
    result = pc.if_else(ok, parsed, pa.scalar(None, parsed.type))
    return pc.cast(result, target)


def parse_column(values: pa.Array, spec: ColumnSpec) -> pa.Array:
    """Parse a string array into `spec.type`; values that do not fit become null."""
    if spec.parser == "string":
        return values
    text = pc.utf8_trim_whitespace(values)
    if spec.parser == "bool":
        ok = _matches(text, _BOOL)
        return pc.if_else(ok, pc.equal(pc.utf8_lower(text), "true"), pa.scalar(None, pa.bool_()))
    if ":" in spec.parser:
        return _parse_layout(text, _LAYOUTS[spec.parser.split(":", 1)[1]], spec.type)
    pattern = {"int": _INT, "float": _FLOAT, "iso_date": _ISO_DATE, "iso_ts": _ISO_TS, "iso_tz": _ISO_TZ}
    ok = _matches(text, pattern[spec.parser])
    kept = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    if spec.parser == "iso_ts":
        kept = pc.replace_substring(kept, "T", " ", max_replacements=1)
    return _safe_cast(kept, spec.type)


@functools.cache
def _candidates() -> list[ColumnSpec]:
    specs = [
        ColumnSpec("", pa.date32(), "date:ymd_compact"),  # 20170724 is a date before it is a number
        ColumnSpec("", pa.int64(), "int"),
        ColumnSpec("", pa.float64(), "float"),
        ColumnSpec("", pa.bool_(), "bool"),
        ColumnSpec("", pa.date32(), "iso_date"),
    ]
    specs += [ColumnSpec("", pa.date32(), f"date:{lay.name}") for lay in _DATE_LAYOUTS[1:]]
    specs += [ColumnSpec("", TS, "iso_ts"), ColumnSpec("", TS_UTC, "iso_tz")]
    specs += [ColumnSpec("", TS, f"ts:{lay.name}") for lay in _TS_LAYOUTS]
    return specs


def infer_spec(name: str, sample: pa.Array) -> ColumnSpec:
    """The narrowest candidate type that parses every non-null sampled value, else string."""
    values = pc.drop_null(sample.cast(pa.string()))
    if len(values) == 0:
        return ColumnSpec(name, pa.string())
    text = pc.utf8_trim_whitespace(values)
    identifier_like = pc.any(_matches(text, _LEADING_ZERO)).as_py() or pc.any(_matches(text, _LONG_DIGITS)).as_py()
    for cand in _candidates():
        if identifier_like and cand.parser in ("int", "float"):
            continue
        parsed = parse_column(values, ColumnSpec(name, cand.type, cand.parser))
        if parsed.null_count == 0:
            return ColumnSpec(name, cand.type, cand.parser)
    return ColumnSpec(name, pa.string())


def layout_format(spec: ColumnSpec) -> str:
    """The date/time format a column was recognised in (`%Y%m%d`, `ISO 8601`), '' for other types."""
    if ":" in spec.parser:
        return _LAYOUTS[spec.parser.split(":", 1)[1]].fmt
    return "ISO 8601" if spec.parser.startswith("iso_") else ""


DEFAULT_NULL_TOKENS = ("", "NA", "N/A", "NULL", "null", "NaN", "-")


def null_tokens(option: Any, object_name: str | None = None) -> tuple[str, ...]:
    """The missing-value tokens for one object, from a system's `null_values` option.

    The option is a list (every object) or a mapping of object name -> list with `*` for the rest;
    the empty string always stays a null, because an empty cell is never a value.
    """
    chosen: Any = option
    if isinstance(option, dict):
        chosen = option.get(object_name or "", option.get("*"))
    if chosen is None:
        return DEFAULT_NULL_TOKENS
    if isinstance(chosen, str):
        chosen = [chosen]
    return tuple(dict.fromkeys(["", *(str(t) for t in chosen)]))


def nullify(values: pa.Array, tokens: tuple[str, ...]) -> pa.Array:
    """Missing-value tokens (the whole cell, as CSV readers compare them) become nulls."""
    if not tokens or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    hit = pc.fill_null(pc.is_in(values, pa.array(tokens, values.type)), False)
    if not pc.any(hit).as_py():
        return values
    return pc.if_else(hit, pa.scalar(None, values.type), values)


class Inference:
    """Which candidate types still parse every value seen so far, per column, over a whole object.

    Fed every batch of a file (`update`), so the type fits the last row as well as the first; two
    inferences over columns of the same name (files of one system) combine with `merge`, giving
    them one type the values of both allow.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        count = len(_candidates())
        self.alive: list[list[bool]] = [[True] * count for _ in names]
        self.seen: list[bool] = [False] * len(names)
        self.identifier_like: list[bool] = [False] * len(names)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        cands = _candidates()
        for i in range(len(self.names)):
            alive = self.alive[i]
            if not any(alive):
                continue
            values = pc.drop_null(_as_array(batch.column(i)).cast(pa.string()))
            if len(values) == 0:
                continue
            values = pc.unique(pc.utf8_trim_whitespace(values))
            self.seen[i] = True
            numeric = any(alive[k] for k, c in enumerate(cands) if c.parser in ("int", "float"))
            if numeric and not self.identifier_like[i] and (pc.any(_matches(values, _LEADING_ZERO)).as_py()
                                                            or pc.any(_matches(values, _LONG_DIGITS)).as_py()):
                self.identifier_like[i] = True
            for k, cand in enumerate(cands):
                if not alive[k]:
                    continue
                if self.identifier_like[i] and cand.parser in ("int", "float"):
                    alive[k] = False
                    continue
                head = values.slice(0, 64)  # most candidates fail on the first values: cheap to find out
                if parse_column(head, cand).null_count or (
                        len(values) > len(head) and parse_column(values, cand).null_count):
                    alive[k] = False

    def merge(self, index: int, other: Inference, other_index: int) -> None:
        """Column `index` must also hold every value of `other`'s column `other_index`."""
        if not other.seen[other_index]:
            return
        if not self.seen[index]:
            self.alive[index] = list(other.alive[other_index])
        else:
            self.alive[index] = [a and b for a, b in zip(self.alive[index], other.alive[other_index], strict=True)]
        self.seen[index] = True
        self.identifier_like[index] = self.identifier_like[index] or other.identifier_like[other_index]
        if self.identifier_like[index]:
            for k, cand in enumerate(_candidates()):
                if cand.parser in ("int", "float"):
                    self.alive[index][k] = False

    def spec(self, index: int) -> ColumnSpec:
        name = self.names[index]
        if not self.seen[index]:
            return ColumnSpec(name, pa.string())
        for alive, cand in zip(self.alive[index], _candidates(), strict=True):
            if alive:
                return ColumnSpec(name, cand.type, cand.parser)
        return ColumnSpec(name, pa.string())

    def specs(self) -> list[ColumnSpec]:
        return [self.spec(i) for i in range(len(self.names))]


def infer_specs(sample: pa.Table | pa.RecordBatch) -> list[ColumnSpec]:
    """One spec per column of a string-typed sample (use the first ~10k rows)."""
    return [infer_spec(name, _as_array(sample.column(i))) for i, name in enumerate(sample.column_names)]


def schema_of(specs: list[ColumnSpec]) -> pa.Schema:
    return pa.schema([pa.field(s.name, s.type, nullable=True) for s in specs])


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


@dataclass
class Converted:
    """A typed batch of all input rows plus which rows failed and why.

    Rows that failed hold nulls in the failing columns; callers drop them (`bad`) after deciding,
    for example, whether the row lies beyond a cursor.
    """

    data: pa.RecordBatch
    bad: pa.Array | None
    rejects: dict[int, Reject]


def convert_batch(strings: pa.RecordBatch, specs: list[ColumnSpec]) -> Converted:
    """Convert a batch of text columns (same order as `specs`) to the typed schema."""
    arrays: list[pa.Array] = []
    failures: list[tuple[ColumnSpec, pa.Array]] = []
    bad: pa.Array | None = None
    for i, spec in enumerate(specs):
        raw = _as_array(strings.column(i))
        typed = parse_column(raw, spec)
        arrays.append(typed)
        if spec.parser == "string":
            continue
        failed = pc.and_(pc.is_valid(raw), pc.is_null(typed))
        if pc.any(failed).as_py():
            failures.append((spec, failed))
            bad = failed if bad is None else pc.or_(bad, failed)
    data = pa.RecordBatch.from_arrays(arrays, schema=schema_of(specs))
    rejects: dict[int, Reject] = {}
    if bad is not None:
        names = [s.name for s in specs]
        for idx in pc.indices_nonzero(bad).to_pylist():
            row = {n: _as_array(strings.column(j))[idx].as_py() for j, n in enumerate(names)}
            reasons = []
            for spec, failed in failures:
                if failed[idx].as_py():
                    reasons.append(f"column {spec.name!r}: cannot convert {row[spec.name]!r} to {spec.type}")
            rejects[idx] = Reject(record=json.dumps(row, ensure_ascii=False), reason="; ".join(reasons))
    return Converted(data, bad, rejects)


def looks_increasing(values: pa.Array) -> bool:
    """True when a sampled numeric column never decreases (a candidate incremental cursor)."""
    present = pc.drop_null(values)
    if len(present) < 2:
        return False
    diffs = pc.subtract(present[1:], present[:-1])
    return bool(pc.min(diffs).as_py() >= 0)


def is_cursor_like(name: str, spec: ColumnSpec) -> bool:
    """Times are cursor candidates; so are integer columns named like ids/sequences."""
    if pa.types.is_timestamp(spec.type) or pa.types.is_date(spec.type):
        return True
    return pa.types.is_integer(spec.type) and bool(re.search(r"(^|_)(id|seq|no)$|序号|编号", name.lower()))
