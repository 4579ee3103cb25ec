"""Data APIs a dataset could offer, proposed to its steward — never published on their own.

`suggest_capabilities("civil.elderly_care.elderly")` reads the dataset's columns, their display names
(`govern/labels.py`) and their classification, and proposes the shapes a department commonly
releases: a lookup by an identifying key, a listing per district, counts per district or per category,
daily counts, the latest records, a time window, or the whole list of a small reference table. Each
proposal is a complete `CapabilitySpec` titled in both languages from the field names a reader knows
("养老服务对象查询（按老人编号）", not "按elder_id查询elderly").

Nothing is released until the steward picks a proposal (`publish_suggestion`). A lookup by a personal
field (ID number, phone, name, plate...) is only published with a stated purpose, which is kept with
the capability and in the audit chain: looking people up by phone number is a decision, not a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from urbanbrain.capability.catalog import CapabilityPublic, CapabilitySpec, list_capabilities, register_capability
from urbanbrain.capability.lookups import json_type
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.classification import get_classification
from urbanbrain.govern.labels import DATASET, Label, labels_of
from urbanbrain.govern.pii import PII_TYPES
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import get_dataset
from urbanbrain.lake.engine import quote_ident
from urbanbrain.meta.schemas import DatasetPublic

# A unified social credit code identifies a company and is public by law; every other PII type is a person's.
PERSONAL = tuple(t for t in PII_TYPES if t != "credit_code")
IDENTIFYING = ("resident_id", "mobile", "plate", "credit_code")  # a lookup by these finds one party
PATTERNS = ("lookup", "in_district", "count_by_district", "count_by", "daily_counts", "latest", "between", "list")
KEY = re.compile(r"(^id$|_id$|id_number|credit_code|plate|mobile|phone|_no$|^line$|^code$)")
DISTRICT = re.compile(r"^district(_code)?$")
CATEGORICAL = re.compile(r"(status|category|type|level|^sex$|gender|kind|grade|channel|registration|pollutant)")
TIME = re.compile(r"(updated_at|created_at|observed_at|reported_at|opened_at|registered_at|signed_at|_time$|^ts$"
                  r"|^at$|_at$)")
HIDDEN = "EXCLUDE (_ub_system, _ub_run_id, _ub_synced_at)"
SMALL_TABLE = 2_000  # a reference table this small is offered whole, as a list


@dataclass
class Suggestion:
    """One proposed data API; `needs_purpose` when it looks people up by a personal field."""

    name: str
    pattern: str
    column: str | None
    spec: CapabilitySpec
    pii_type: str | None = None
    published: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def needs_purpose(self) -> bool:
        return self.pattern == "lookup" and self.pii_type in PERSONAL

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern, "column": self.column, "title_zh": self.spec.title_zh,
                "title_en": self.spec.title_en, "pii_type": self.pii_type, "needs_purpose": self.needs_purpose,
                "published": self.published, "category": self.spec.category}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def api_name(ds: DatasetPublic, pattern: str, column: str | None = None) -> str:
    """`<department>_<object>_<pattern>[_<column>]`; a column named in Chinese becomes `f<position>`."""
    base = _slug(f"{ds.department}_{ds.name.split('.')[-1]}")
    if column is None:
        return f"{base}_{pattern}"[:120]
    col = _slug(column)
    if not col or not col[0].isalpha():
        names = [str(c["name"]) for c in ds.columns]
        col = f"f{names.index(column) + 1}" if column in names else "field"
    return f"{base}_{pattern}_{col}"[:120]


def _table(ds: DatasetPublic) -> str:
    return ".".join(quote_ident(p) for p in ds.name.split("."))


def _types(ds: DatasetPublic) -> dict[str, str]:
    return {str(c["name"]): str(c.get("type", "string")) for c in ds.columns if not str(c["name"]).startswith("_ub_")}


def _param(column: str, fallback: str) -> str:
    slug = _slug(column)
    return slug if slug and slug[0].isalpha() and len(slug) <= 63 else fallback


def _required(schema: dict[str, Any], description: str) -> dict[str, Any]:
    kinds = schema["type"]
    return {**schema, "type": next(t for t in kinds if t != "null"), "description": description}


def build(ds: DatasetPublic, labels: dict[str, Label], pattern: str, column: str | None = None, *,
          name: str | None = None, pii_type: str | None = None) -> Suggestion:
    """The proposal of one `pattern` (see PATTERNS) over `ds`, titled from `labels` (`labels_of`)."""
    if pattern not in PATTERNS:
        raise ValidationError(f"unknown data API pattern {pattern!r}", hint=f"use one of {', '.join(PATTERNS)}")
    types, table = _types(ds), _table(ds)
    if column is not None and column not in types:
        raise ValidationError(f"dataset {ds.name} has no column {column!r}", hint=f"columns: {', '.join(types)}")
    if pattern in ("lookup", "in_district", "count_by_district", "count_by", "daily_counts", "between") \
            and column is None:
        raise ValidationError(f"a {pattern} data API needs a column")
    this = labels.get(DATASET) or Label(DATASET, ds.name.split(".")[-1], ds.name.split(".")[-1])
    dzh, den = this.label_zh, this.label_en
    col = labels.get(column or "") if column else None
    fzh, fen = (col.label_zh, col.label_en) if col else (column or "", column or "")
    rows = {"type": "array", "items": {"type": "object", "properties": {c: json_type(t) for c, t in types.items()}}}
    counts = {"type": "array", "items": {"type": "object", "properties": {
        "value": json_type(types.get(column or "", "string")), "records": {"type": "integer"}}}}
    params: dict[str, Any] = {}
    q = quote_ident(column) if column else ""
    category = "data_service"
    if pattern == "lookup":
        assert column is not None
        p = _param(column, "key")
        params[p] = _required(json_type(types[column]), f"{fzh} / {fen}")
        sql = f"SELECT * {HIDDEN} FROM {table} WHERE {q} = ${p}"
        zh, en = f"{dzh}查询（按{fzh}）", f"{den} by {fen}"
    elif pattern == "in_district":
        params["district"] = _required(json_type(types[column or ""]), f"{fzh} / {fen}")
        sql = f"SELECT * {HIDDEN} FROM {table} WHERE {q} = $district ORDER BY 1"
        zh, en = f"{dzh}（按{fzh}列出）", f"{den} in a {fen}"
    elif pattern in ("count_by_district", "count_by"):
        sql = f"SELECT {q} AS value, count(*) AS records FROM {table} GROUP BY 1 ORDER BY 2 DESC"
        zh, en, category, rows = f"{dzh}按{fzh}统计", f"{den}: count by {fen}", "analytics", counts
    elif pattern == "daily_counts":
        sql = f"SELECT CAST({q} AS DATE) AS day, count(*) AS records FROM {table} GROUP BY 1 ORDER BY 1 DESC"
        zh, en, category = f"{dzh}每日数量", f"{den}: records per day", "analytics"
        rows = {"type": "array", "items": {"type": "object", "properties": {
            "day": {"type": "string", "format": "date"}, "records": {"type": "integer"}}}}
    elif pattern == "latest":
        order = f" ORDER BY {q} DESC" if column else ""
        sql = f"SELECT * {HIDDEN} FROM {table}{order}"
        zh, en = f"最新{dzh}", f"latest {den}"
    elif pattern == "between":
        params["start"] = {"type": "string", "format": "date-time", "description": f"{fzh}起（含） / earliest {fen}"}
        params["end"] = {"type": "string", "format": "date-time", "description": f"{fzh}止（不含） / latest {fen}"}
        sql = (f"SELECT * {HIDDEN} FROM {table} WHERE {q} >= CAST($start AS TIMESTAMP) "
               f"AND {q} < CAST($end AS TIMESTAMP) ORDER BY {q}")
        zh, en = f"按时间段查询{dzh}", f"{den} in a time window"
    else:  # list
        sql = f"SELECT * {HIDDEN} FROM {table} ORDER BY 1"
        zh, en = f"{dzh}名录", f"{den}: full list"
    name = name or api_name(ds, pattern, column if pattern not in ("latest", "list", "daily_counts",
                                                                    "count_by_district", "in_district") else None)
    spec = CapabilitySpec(
        name=name, title_zh=zh[:200], title_en=en[:200], category=category, owner=ds.department, kind="data_api",
        description_zh=f"{zh}。数据来自{dzh}（{ds.name}），由其所属部门发布。",
        description_en=f"{en}. Data from {den} ({ds.name}), released by its department.",
        input_schema={"type": "object", "properties": params, "required": list(params), "additionalProperties": False},
        output_schema=rows,
        implementation={"sql": sql, "max_rows": 1000, "dataset": ds.name, "pattern": pattern,
                        **({"key_column": column} if pattern == "lookup" else {})},
    )
    return Suggestion(name, pattern, column, spec, pii_type)


def _categorical(ds: DatasetPublic, candidates: list[str], by: Principal) -> list[str]:
    """Text columns with few distinct values (status, category...): worth a breakdown. One probe query,
    run as the steward asking (their own department's data), never as the platform."""
    if not candidates or ds.row_count < 20:
        return []
    probes = ", ".join(f"approx_count_distinct({quote_ident(c)}) AS {quote_ident(c)}" for c in candidates)
    row = run_query(f"SELECT {probes} FROM {_table(ds)}", principal=by).table.to_pylist()[0]
    return [c for c in candidates if 1 < int(row[c] or 0) <= 60]


def pii_types(name: str) -> dict[str, str]:
    """Column -> PII type, confirmed or only proposed (a proposal counts: better to ask for a purpose)."""
    return {f.column: t for f in get_classification(name)[1] if (t := f.pii_type or f.proposed_pii_type)}


def candidates(ds: DatasetPublic, labels: dict[str, Label], pii: dict[str, str], by: Principal) -> list[Suggestion]:
    """Every proposal for `ds`, most useful shapes first."""
    types = _types(ds)
    out: list[Suggestion] = []
    keys = [c for c in types if KEY.search(c.lower()) or pii.get(c) in IDENTIFYING]
    for column in keys:
        out.append(build(ds, labels, "lookup", column, pii_type=pii.get(column)))
    district = next((c for c in types if DISTRICT.match(c.lower())), None)
    if district:
        out.append(build(ds, labels, "in_district", district))
        out.append(build(ds, labels, "count_by_district", district))
    text = [c for c in types if "string" in types[c] and c not in keys and c != district and c not in pii]
    named = [c for c in text if CATEGORICAL.search(c.lower())]
    for column in sorted(_categorical(ds, text, by), key=lambda c: (c not in named, c))[:4]:
        out.append(build(ds, labels, "count_by", column))
    when = next((c for c in types if TIME.search(c.lower()) and "timestamp" in types[c]), None)
    if when:
        out.append(build(ds, labels, "daily_counts", when))
        out.append(build(ds, labels, "latest", when))
        out.append(build(ds, labels, "between", when))
    elif ds.row_count <= SMALL_TABLE:
        out.append(build(ds, labels, "list"))
    return out


def _data_dataset(dataset: str) -> DatasetPublic:
    ds = get_dataset(dataset)
    if ds.role != "data":
        raise NotFoundError(f"{dataset} is a quarantine table", hint="suggest data APIs over the dataset itself")
    return ds


def suggest_capabilities(dataset: str, *, by: Principal | None = None) -> list[Suggestion]:
    """The data APIs proposed for `dataset`, for its own department's stewards to choose from.

    Nothing is stored: a proposal becomes a capability only through `publish_suggestion`."""
    by = acting(by)
    ds = _data_dataset(dataset)
    authorize("capability.suggest", by, ds.department)
    found = candidates(ds, labels_of(ds.name), pii_types(ds.name), by)
    existing = {c.name for c in list_capabilities(department=ds.department)}
    for s in found:
        s.published = s.name in existing
        if s.needs_purpose:
            s.notes.append(f"looks people up by {s.column} ({s.pii_type}): publish only with a stated purpose")
    return found


def check_purpose(suggestion: Suggestion, purpose: str | None) -> str | None:
    """A lookup by a personal field needs a purpose of a few words; returns the cleaned purpose."""
    text = (purpose or "").strip() or None
    if suggestion.needs_purpose and (text is None or len(text) < 8):
        raise ValidationError(
            f"{suggestion.name} looks people up by {suggestion.column} ({suggestion.pii_type}); "
            "it is published only with a stated purpose",
            hint="say why with --purpose '...' (at least a few words); it is kept with the capability and audited")
    return text


def publish_suggestion(dataset: str, name: str, *, purpose: str | None = None, version: int = 1,
                       by: Principal | None = None) -> CapabilityPublic:
    """The steward releases one proposal: registered and published at once, owned by the dataset's department."""
    by = acting(by)
    ds = _data_dataset(dataset)
    authorize("capability.publish_suggestion", by, ds.department)
    found = {s.name: s for s in candidates(ds, labels_of(ds.name), pii_types(ds.name), by)}
    if name not in found:
        raise NotFoundError(f"{name} is not among the data APIs suggested for {dataset}",
                            hint=f"see them with `urbanbrain capability suggest {dataset}`")
    chosen = found[name]
    text = check_purpose(chosen, purpose)
    spec = chosen.spec.model_copy(update={"version": version})
    if text:
        spec.implementation = {**spec.implementation, "purpose": text}
        spec.description_zh += f" 用途：{text}"
        spec.description_en += f" Purpose: {text}"
    cap = register_capability(spec, status="published", approver=by.label, by=by)
    record(by, "capability.publish_suggestion", f"capability:{cap.name} v{cap.version}",
           {"dataset": ds.name, "pattern": chosen.pattern, "column": chosen.column, "pii_type": chosen.pii_type,
            "purpose": text})
    return cap
