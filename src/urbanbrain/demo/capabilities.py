"""The demo city's capabilities: what its departments release to the whole city, and who reuses them.

Every capability here is real and goes through the same catalog a department would use: the shipped
built-ins, and data APIs generated over the city's datasets — lookups by identifying keys, district
statistics and listings, daily activity and latest records — each owned by the dataset's department,
approved by it, granted to other departments' applications, and metered when those call it.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from urbanbrain.capability.batch import publish_capabilities
from urbanbrain.capability.catalog import (
    CapabilityPublic,
    CapabilitySpec,
    list_capabilities,
    publish_builtins,
)
from urbanbrain.capability.consumers import add_consumer, create_key
from urbanbrain.capability.gateway import invoke
from urbanbrain.capability.grants import approve_grant, request_grant
from urbanbrain.capability.lookups import json_type, lookup_api_spec
from urbanbrain.capability.metering import flush_all
from urbanbrain.core.errors import AlreadyExistsError, UrbanBrainError
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import list_datasets
from urbanbrain.lake.engine import quote_ident
from urbanbrain.meta.schemas import DatasetPublic

KEY = re.compile(r"(^id$|_id$|id_number|credit_code|plate|mobile|phone|_no$|^name$|_name$)")
DISTRICT = re.compile(r"^district(_code)?$")
CATEGORICAL = re.compile(r"(status|category|type|level|^sex$|gender|kind|grade|channel|registration|pollutant)")
TIME = re.compile(r"(updated_at|created_at|observed_at|reported_at|opened_at|_time$|^ts$|_at$)")


@dataclass
class PublishSummary:
    published: int = 0
    builtins: int = 0
    consumers: int = 0
    grants: int = 0
    calls: int = 0
    skipped: list[str] = field(default_factory=list)


def _slug(ds: DatasetPublic) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", ds.name.replace(".", "_"))[:80]


def _columns(ds: DatasetPublic) -> dict[str, str]:
    return {str(c["name"]): str(c.get("type", "string")) for c in ds.columns if not str(c["name"]).startswith("_ub_")}


def _table(ds: DatasetPublic) -> str:
    return ".".join(quote_ident(p) for p in ds.name.split("."))


def _data_api(name: str, ds: DatasetPublic, sql: str, title_zh: str, title_en: str, category: str,
              params: dict[str, dict[str, object]], rows: dict[str, object]) -> CapabilitySpec:
    return CapabilitySpec(
        name=name, title_zh=title_zh, title_en=title_en, category=category, owner=ds.department, kind="data_api",
        description_zh=f"{title_zh}（数据集 {ds.name}）", description_en=f"{title_en} (dataset {ds.name})",
        input_schema={"type": "object", "properties": params, "required": list(params),
                      "additionalProperties": False},
        output_schema={"type": "array", "items": {"type": "object", "properties": rows}},
        implementation={"sql": sql, "max_rows": 1000, "dataset": ds.name},
    )


def categorical_columns(ds: DatasetPublic, cols: dict[str, str]) -> list[str]:
    """Text columns with few distinct values (status, category, district name...): worth a breakdown API."""
    text = [c for c in cols if "string" in cols[c] and not KEY.search(c.lower())]
    if not text:
        return []
    probes = ", ".join(f"approx_count_distinct({quote_ident(c)}) AS {quote_ident(c)}" for c in text)
    row = run_query(f"SELECT count(*) AS _rows, {probes} FROM {_table(ds)}", principal=SYSTEM).table.to_pylist()[0]
    rows = int(row.pop("_rows") or 0)
    if rows < 20:
        return []
    named = [c for c in text if CATEGORICAL.search(c.lower())]
    found = [c for c in text if 1 < int(row[c] or 0) <= 60]
    return sorted(found, key=lambda c: (c not in named, c))


def dataset_specs(ds: DatasetPublic) -> list[CapabilitySpec]:
    """Statistics and listings a department would release for one dataset (lookups come separately)."""
    cols = _columns(ds)
    slug, table = _slug(ds), _table(ds)
    specs: list[CapabilitySpec] = []
    district = next((c for c in cols if DISTRICT.match(c.lower())), None)
    when = next((c for c in cols if TIME.search(c.lower()) and "timestamp" in cols[c]), None)
    if district:
        d = quote_ident(district)
        specs.append(_data_api(
            f"{slug}_count_by_district", ds, f"SELECT {d} AS district, count(*) AS records FROM {table} "
            f"GROUP BY 1 ORDER BY 1", f"{ds.object_name}按区县统计", f"{ds.object_name}: records per district",
            "analytics", {}, {"district": json_type(cols[district]), "records": {"type": "integer"}}))
        key_type = json_type(cols[district])
        specs.append(_data_api(
            f"{slug}_in_district", ds, f"SELECT * EXCLUDE (_ub_system, _ub_run_id, _ub_synced_at) FROM {table} "
            f"WHERE {d} = $district ORDER BY 1",
            f"{ds.object_name}按区县列表", f"{ds.object_name} in a district", "data_service",
            {"district": {**key_type, "type": next(t for t in key_type["type"] if t != "null")}},
            {c: json_type(t) for c, t in cols.items()}))
    if when:
        w = quote_ident(when)
        specs.append(_data_api(
            f"{slug}_daily_counts", ds, f"SELECT CAST({w} AS DATE) AS day, count(*) AS records FROM {table} "
            f"GROUP BY 1 ORDER BY 1 DESC", f"{ds.object_name}每日数量", f"{ds.object_name}: records per day",
            "analytics", {}, {"day": {"type": "string", "format": "date"}, "records": {"type": "integer"}}))
        specs.append(_data_api(
            f"{slug}_latest", ds, f"SELECT * EXCLUDE (_ub_system, _ub_run_id, _ub_synced_at) FROM {table} "
            f"ORDER BY {w} DESC", f"最新{ds.object_name}", f"latest {ds.object_name}", "data_service", {},
            {c: json_type(t) for c, t in cols.items()}))
        start: dict[str, object] = {"type": "string", "format": "date-time",
                                    "description": f"earliest {when} (inclusive)"}
        end: dict[str, object] = {"type": "string", "format": "date-time", "description": f"latest {when} (exclusive)"}
        specs.append(_data_api(
            f"{slug}_between", ds, f"SELECT * EXCLUDE (_ub_system, _ub_run_id, _ub_synced_at) FROM {table} "
            f"WHERE {w} >= CAST($start AS TIMESTAMP) AND {w} < CAST($end AS TIMESTAMP) ORDER BY {w}",
            f"按时间段查询{ds.object_name}", f"{ds.object_name} in a time window", "data_service",
            {"start": start, "end": end}, {c: json_type(t) for c, t in cols.items()}))
    for column in categorical_columns(ds, cols)[:4]:
        q = quote_ident(column)
        specs.append(_data_api(
            f"{slug}_count_by_{re.sub(r'[^a-z0-9_]+', '_', column.lower())}"[:120], ds,
            f"SELECT {q} AS value, count(*) AS records FROM {table} GROUP BY 1 ORDER BY 2 DESC",
            f"{ds.object_name}按{column}统计", f"{ds.object_name}: records per {column}", "analytics", {},
            {"value": json_type(cols[column]), "records": {"type": "integer"}}))
    return specs


def publish_city_capabilities(on_step: Callable[[str], None] | None = None, seed: int = 7) -> PublishSummary:
    """Publish built-ins and the datasets' data APIs, then let departments' applications reuse them."""
    step = on_step or (lambda _label: None)
    summary = PublishSummary()
    result = publish_builtins()
    summary.builtins = len(result["published"])
    summary.skipped.extend(result["skipped"])
    existing = {c.name for c in list_capabilities()}
    specs: list[CapabilitySpec] = []
    for ds in list_datasets(include_quarantine=False):
        specs.extend(spec for spec in dataset_specs(ds) if spec.name not in existing)
        for key in [c for c in _columns(ds) if KEY.search(c.lower())]:
            name = f"{_slug(ds)}_by_{re.sub(r'[^a-z0-9_]+', '_', key.lower())}"[:120]
            if name in existing:
                continue
            try:
                specs.append(lookup_api_spec(ds, key, name=name, owner=ds.department))
            except UrbanBrainError as exc:
                summary.skipped.append(f"{name}: {exc.message}")
        step(ds.name)
    # one transaction for the whole catalog, each entry approved by its owning department
    summary.skipped.extend(publish_capabilities(specs).skipped)
    published = [c for c in list_capabilities(status="published")]
    summary.published = len(published)
    _reuse(published, summary, seed)
    return summary


def _reuse(published: list[CapabilityPublic], summary: PublishSummary, seed: int) -> None:
    """Each department's application asks for a few other departments' capabilities; owners approve;
    the application calls them — so the catalog shows real, metered reuse."""
    rng = random.Random(seed)
    departments = sorted({c.owner for c in published})
    for dept in departments:
        app = f"{dept}-app"
        with contextlib.suppress(AlreadyExistsError):
            add_consumer(app, dept, description=f"{dept} 部门业务应用")
            summary.consumers += 1
        key = create_key(app, expires_days=365, label="demo").key
        others = [c for c in published if c.owner != dept and not c.input_schema.get("required")]
        for cap in rng.sample(others, k=min(4, len(others))):
            try:
                grant = request_grant(app, cap.name, version=cap.version, per_minute=120, per_day=5000,
                                      purpose="demo: cross-department reuse")
                approve_grant(grant.id, approver=f"{cap.owner} data steward", department=cap.owner)
                summary.grants += 1
                invoke(cap.name, cap.version, {"limit": 5} if cap.kind == "data_api" else {}, key)
                summary.calls += 1
            except UrbanBrainError as exc:
                summary.skipped.append(f"{app} -> {cap.name}: {exc.message}")
    flush_all()


def sample_lookup_value(ds: DatasetPublic, column: str) -> object:
    """A real key value to show in examples (first non-null)."""
    rows = run_query(f"SELECT {quote_ident(column)} AS v FROM {_table(ds)} WHERE {quote_ident(column)} "
                     f"IS NOT NULL LIMIT 1", principal=SYSTEM).table.to_pylist()
    return rows[0]["v"] if rows else None
