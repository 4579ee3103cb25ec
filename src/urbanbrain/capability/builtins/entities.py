"""'Who is this' and 'everything linked to entity X': the base registries as capabilities.

Both answer for the calling consumer (`govern.context.current_caller`), and both keep governance:

* a lookup may use only attributes the caller sees in clear in the golden records (its department's
  own grants, no capability grant): looking up an ID number one may not see would answer "does this
  person exist" about a closed field, so it is refused, not answered;
* matching reads the registry's features with the registry department's view of them (it owns them
  and the capability) but is audited as the caller, and returns only entity ids and probabilities;
  what comes back about an entity -- its golden record -- is read as the caller, *without* the
  capability grant, so a caller sees golden attributes only as its own grants allow;
* `entity_links` lists the entity's source records by reading each source dataset as the caller; a
  dataset of which the caller may see nothing is not named, only counted (`hidden`), so even the
  existence of, say, a subsistence-allowance record is not disclosed. What it returns the caller could
  read with SQL; with lookups by unseen attributes refused, it no longer starts from one.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.capability.base import BuiltinSpec
from urbanbrain.capability.builtins._lake import caller, sql_dataset, sql_literal, visible_columns
from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, QueryError, ValidationError
from urbanbrain.govern.context import current_caller
from urbanbrain.govern.policy import DatasetPolicy, policy_for
from urbanbrain.govern.principals import consumer_principal
from urbanbrain.govern.query import run_query
from urbanbrain.lake.engine import quote_ident
from urbanbrain.link import model, store
from urbanbrain.link.golden import ATTRIBUTES
from urbanbrain.link.mapping import FIELDS, load_mappings
from urbanbrain.link.prepare import features_frame
from urbanbrain.link.run import features
from urbanbrain.link.service import kind_of
from urbanbrain.link.specs import SPECS

PROBE_KEYS = {"person": ("id_number", "phone", "name_py", "addr_house"),
              "organisation": ("credit_code", "name_core", "addr_house"),
              "address": ("addr_house",)}


def _golden_as_caller(kind: str, entity_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Golden records as the caller may see them (no capability grant: see the module docstring)."""
    if not entity_ids:
        return {}
    principal, _ = current_caller()
    listing = ", ".join(sql_literal(e) for e in entity_ids)
    sql = f"SELECT * FROM {sql_dataset(store.dataset_name(kind, 'golden'))} WHERE entity_id IN ({listing})"
    try:
        rows = run_query(sql, principal=principal).table.to_pylist()
    except QueryError:  # nothing of the golden record is visible to this caller
        return {}
    return {str(r["entity_id"]): r for r in rows}


def _registry_view(name: str) -> DatasetPolicy:
    """The registry department's view of its own features (matching is the registry's work)."""
    return policy_for(consumer_principal("registry-matching", store.DEPARTMENT[0]), name)


def clear_attributes(kind: str) -> set[str]:
    """Golden attributes the caller sees in clear (its own grants; no capability grant)."""
    return set(ATTRIBUTES[kind]) & set(visible_columns(store.dataset_name(kind, "golden"), caller(), in_clear=True))


def _check_lookup(kind: str, raw: dict[str, list[str | None]]) -> None:
    given = [f for f, v in raw.items() if v[0] is not None]
    allowed = clear_attributes(kind)
    refused = [f for f in given if f not in allowed]
    if refused:
        raise PermissionDeniedError(f"you may not look {kind}s up by {', '.join(refused)}: your department does "
                                    "not see that attribute in clear",
                                    hint=f"look up by: {', '.join(sorted(allowed)) or 'nothing (ask for a grant)'}")


def _candidates(kind: str, probe: pa.Table) -> pa.Table:
    """Registry records sharing any blocking key with the probe (the registry's view, audited as the caller)."""
    row = probe.to_pylist()[0]
    conditions = [f"{quote_ident(k)} = {sql_literal(str(row[k]))}" for k in PROBE_KEYS[kind] if row.get(k)]
    if kind == "person" and row.get("birth_date") and row.get("surname_py"):
        conditions.append(f"(birth_date = {sql_literal(row['birth_date'])} "
                          f"AND surname_py = {sql_literal(row['surname_py'])})")
    if not conditions:
        raise ValidationError("give at least one identifying attribute",
                              hint=f"for {kind}: {', '.join(FIELDS[kind])}")
    sql = (f"SELECT * FROM {sql_dataset(store.dataset_name(kind, 'records'))} "
           f"WHERE {' OR '.join(conditions)} LIMIT 5000")
    return run_query(sql, principal=caller(), policy_of=_registry_view).table


def who_is_this(params: dict[str, Any]) -> dict[str, Any]:
    kind = str(params.get("kind") or "person")
    if kind not in SPECS:
        raise ValidationError(f"unknown kind {kind!r}", hint="person, organisation or address")
    fitted = store.load_model(kind)
    if fitted is None or not store.read(kind, "golden", ["entity_id"]):
        raise NotFoundError(f"the {kind} registry has not been built", hint=f"run `urbanbrain link run {kind}`")
    raw = {f: [None if params.get(f) in (None, "") else str(params[f])] for f in FIELDS[kind]}
    _check_lookup(kind, raw)
    probe = features_frame(kind, pa.table({"record_key": ["probe"], "record_date": pa.array([None], pa.string()),
                                           **{f: pa.array(v, pa.string()) for f, v in raw.items()}}),
                           dataset="probe")
    candidates = _candidates(kind, features(probe))
    if not candidates.num_rows:
        return {"kind": kind, "entity_id": None, "probability": 0.0, "candidates": []}
    entity_of = dict(zip(candidates.column("unique_id").to_pylist(), candidates.column("entity_id").to_pylist(),
                         strict=True))
    registry = features(candidates.select([c for c in probe.column_names if c in candidates.column_names]))
    pairs = model.link_batch(fitted, features(probe), registry.cast(features(probe).schema), threshold=0.01)
    best: dict[str, float] = {}
    for a, b, p in zip(pairs.column("uid_l").to_pylist(), pairs.column("uid_r").to_pylist(),
                       pairs.column("probability").to_pylist(), strict=True):
        other = b if a == "probe|probe" else a
        if other in entity_of:
            eid = str(entity_of[other])
            best[eid] = max(best.get(eid, 0.0), float(p))
    ranked = sorted(best.items(), key=lambda kv: -kv[1])[:5]
    golden = _golden_as_caller(kind, [e for e, _ in ranked])
    items = [{"entity_id": e, "probability": round(p, 6), "golden": _visible(golden.get(e), kind)} for e, p in ranked]
    top_id, top_p = ranked[0] if ranked else (None, 0.0)
    return {"kind": kind, "entity_id": top_id if top_p >= SPECS[kind].threshold else None,
            "probability": round(top_p, 6), "candidates": items}


def _visible(row: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    if not row:
        return {}
    return {a: row[a] for a in ATTRIBUTES[kind] if a in row}


def entity_links(params: dict[str, Any]) -> dict[str, Any]:
    entity_id = str(params["entity_id"])
    kind = kind_of(entity_id)
    xref = store.read(kind, "xref")
    if xref is None:
        raise NotFoundError(f"the {kind} registry has not been built", hint=f"run `urbanbrain link run {kind}`")
    links = xref.filter(pc.equal(xref.column("entity_id"), entity_id)).to_pylist()
    if not links:
        raise NotFoundError(f"no {kind} entity {entity_id}", hint="look it up with who_is_this first")
    principal, _ = current_caller()
    keys = {m.dataset: m.key_column for m in load_mappings(kind)}
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        by_dataset.setdefault(str(link["source_dataset"]), []).append(link)
    records: list[dict[str, Any]] = []
    hidden = 0
    for dataset, rows in sorted(by_dataset.items()):
        key = keys.get(dataset)
        if key is None:
            hidden += len(rows)
            continue
        listing = ", ".join(sql_literal(str(r["record_key"])) for r in rows)
        sql = f"SELECT * FROM {sql_dataset(dataset)} WHERE CAST({quote_ident(key)} AS VARCHAR) IN ({listing})"
        try:
            found = run_query(sql, principal=principal).table.to_pylist()
        except QueryError:  # the caller may see no column of this dataset
            hidden += len(rows)
            continue
        prob = {str(r["record_key"]): r["match_probability"] for r in rows}
        for rec in found:
            rk = str(rec.get(key))
            records.append({"dataset": dataset, "record_key": rk if key in rec else None,
                            "match_probability": prob.get(rk), "fields": {k: _json(v) for k, v in rec.items()}})
        hidden += max(0, len(rows) - len(found))
    golden = _golden_as_caller(kind, [entity_id])
    return {"entity_id": entity_id, "kind": kind, "golden": _visible(golden.get(entity_id), kind),
            "records": records, "hidden": hidden}


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


_TEXT = {"type": ["string", "null"]}
_GOLDEN = {"type": "object"}

WHO_IS_THIS = BuiltinSpec(
    name="who_is_this",
    title_zh="身份识别（一人一档）",
    title_en="Who is this: identify a person, organisation or address",
    description_zh="按任意识别属性（姓名、身份证号、电话、出生日期、地址、统一社会信用代码）在基础库中查找实体，"
                   "返回实体编号、匹配概率和调用方有权查看的标准信息。",
    description_en="Finds the entity in the base registries from any identifying attributes (name, ID number, "
                   "phone, birth date, address, credit code) and returns its ID, the match probability and the "
                   "golden attributes the caller may see.",
    category="data_service",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "kind": {"type": "string", "enum": ["person", "organisation", "address"], "default": "person"},
        "name": {"type": "string", "maxLength": 100}, "id_number": {"type": "string", "maxLength": 30},
        "birth_date": {"type": "string", "maxLength": 10}, "phone": {"type": "string", "maxLength": 20},
        "address": {"type": "string", "maxLength": 200}, "sex": {"type": "string", "maxLength": 2},
        "credit_code": {"type": "string", "maxLength": 30}}},
    output_schema={"type": "object", "required": ["kind", "entity_id", "probability", "candidates"], "properties": {
        "kind": {"type": "string"}, "entity_id": _TEXT, "probability": {"type": "number"},
        "candidates": {"type": "array", "items": {"type": "object", "properties": {
            "entity_id": {"type": "string"}, "probability": {"type": "number"}, "golden": _GOLDEN}}}}},
    func=who_is_this,
    owner="registry",
    examples=[{"params": {"kind": "person", "name": "张伟", "phone": "13800138000"}}],
)

ENTITY_LINKS = BuiltinSpec(
    name="entity_links",
    title_zh="实体关联记录",
    title_en="Everything linked to an entity",
    description_zh="列出一个实体（人、法人、地址）在各部门系统中的全部关联记录，按调用方的数据权限脱敏或隐藏。",
    description_en="Lists every source record linked to an entity (person, organisation, address) across "
                   "departments, masked or hidden according to the caller's data permissions.",
    category="data_service",
    input_schema={"type": "object", "required": ["entity_id"], "additionalProperties": False, "properties": {
        "entity_id": {"type": "string", "pattern": "^(PID|OID|AID)[0-9]{10}$"}}},
    output_schema={"type": "object", "required": ["entity_id", "kind", "records", "hidden"], "properties": {
        "entity_id": {"type": "string"}, "kind": {"type": "string"}, "golden": _GOLDEN,
        "records": {"type": "array", "items": {"type": "object"}}, "hidden": {"type": "integer"}}},
    func=entity_links,
    owner="registry",
    examples=[{"params": {"entity_id": "PID0000000001"}}],
)
