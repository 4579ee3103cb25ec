"""Entity-lookup data APIs generated from datasets ("enterprise by credit code").

Most of a city's reusable capabilities are of this shape: one dataset, one key column, the matching
records. Generating them from the dataset's schema gives each a typed input, a typed output and a
parameter-bound SQL template; they are registered as drafts, because releasing a department's data
is that department's decision: `approve_capability` publishes them.
"""

from __future__ import annotations

import re
from typing import Any

from urbanbrain.capability.catalog import CapabilityPublic, CapabilitySpec, register_capability
from urbanbrain.core.errors import ValidationError
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.lake.datasets import get_dataset
from urbanbrain.lake.engine import quote_ident
from urbanbrain.meta.schemas import DatasetPublic

PARAM = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def json_type(arrow_type: str) -> dict[str, Any]:
    """JSON Schema of a lake column from its Arrow type name (as stored in the dataset's schema)."""
    t = arrow_type.lower()
    if t.startswith(("int", "uint")):
        return {"type": ["integer", "null"]}
    if t.startswith(("double", "float", "halffloat")):
        return {"type": ["number", "null"]}
    if t.startswith("decimal"):
        return {"type": ["string", "null"], "description": "exact decimal as text"}
    if t.startswith("bool"):
        return {"type": ["boolean", "null"]}
    if t.startswith("timestamp"):
        return {"type": ["string", "null"], "format": "date-time"}
    if t.startswith("date"):
        return {"type": ["string", "null"], "format": "date"}
    return {"type": ["string", "null"]}


def _name_for(dataset: str, key_column: str) -> str:
    tail = re.sub(r"[^a-z0-9_]+", "_", dataset.split(".")[-1].lower()).strip("_") or "record"
    key = re.sub(r"[^a-z0-9_]+", "_", key_column.lower()).strip("_") or "key"
    return f"{tail}_by_{key}"[:120]


def generate_lookup_api(dataset: str, key_column: str, *, name: str | None = None, owner: str | None = None,
                        title_zh: str | None = None, title_en: str | None = None,
                        columns: list[str] | None = None, max_rows: int = 100, version: int = 1,
                        by: Principal | None = None) -> CapabilityPublic:
    """Register a draft data API returning the records of `dataset` whose `key_column` equals `$key`.

    >>> generate_lookup_api("market.registry.enterprises", "credit_code", name="enterprise_by_credit_code")
    ... # then the market department approves it: approve_capability("enterprise_by_credit_code")
    """
    by = acting(by)
    ds = get_dataset(dataset)
    authorize("capability.register", by, ds.department)  # releasing a dataset is its department's decision
    spec = lookup_api_spec(ds, key_column, name=name, owner=owner, title_zh=title_zh,
                           title_en=title_en, columns=columns, max_rows=max_rows, version=version)
    return register_capability(spec, status="draft", by=by)


def lookup_api_spec(ds: DatasetPublic, key_column: str, *, name: str | None = None, owner: str | None = None,
                    title_zh: str | None = None, title_en: str | None = None, columns: list[str] | None = None,
                    max_rows: int = 100, version: int = 1) -> CapabilitySpec:
    """The spec of a lookup data API over `ds` (not stored: `generate_lookup_api` registers it)."""
    types = {str(c["name"]): str(c.get("type", "string")) for c in ds.columns}
    if key_column not in types:
        raise ValidationError(f"dataset {ds.name} has no column {key_column!r}",
                              hint=f"columns: {', '.join(types)}")
    chosen = columns or [c for c in types if not c.startswith("_ub_")]  # lineage columns stay internal
    missing = [c for c in chosen if c not in types]
    if missing:
        raise ValidationError(f"dataset {ds.name} has no column {missing[0]!r}")
    param = key_column.lower() if PARAM.match(key_column.lower()) else "key"
    table = ".".join(quote_ident(p) for p in ds.name.split("."))
    select_list = ", ".join(quote_ident(c) for c in chosen)
    sql = f"SELECT {select_list} FROM {table} WHERE {quote_ident(key_column)} = ${param}"
    key_type = json_type(types[key_column])
    key_schema = {**key_type, "type": next(t for t in key_type["type"] if t != "null"),
                  "description": f"value of {key_column}"}
    row_schema = {"type": "object", "properties": {c: json_type(types[c]) for c in chosen}}
    spec = CapabilitySpec(
        name=name or _name_for(ds.name, key_column), version=version,
        title_zh=title_zh or f"按{key_column}查询{ds.object_name}",
        title_en=title_en or f"{ds.object_name} by {key_column}",
        description_zh=f"从数据集 {ds.name} 中按 {key_column} 精确查询记录（数据接口）。",
        description_en=f"Records of dataset {ds.name} whose {key_column} equals the given value (a data API).",
        category="data_service", owner=owner or ds.department, kind="data_api",
        input_schema={"type": "object", "properties": {param: key_schema}, "required": [param],
                      "additionalProperties": False},
        output_schema={"type": "array", "items": row_schema},
        implementation={"sql": sql, "max_rows": max_rows, "dataset": ds.name, "key_column": key_column},
    )
    return spec
