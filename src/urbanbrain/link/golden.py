"""Survivorship: the best value of each attribute of an entity, with the record it came from and its date.

Rules, per kind and attribute, are a steward's choice (`urbanbrain link rule KIND ATTR RULE`), kept in
`URBANBRAIN_HOME/link/survivorship.json`:

* `most_frequent` -- the value most records agree on (ties: source priority, then most recent);
* `most_recent`   -- the value of the most recently dated record (ties: source priority);
* `source_priority` -- the value from the highest-priority source (the mapping's priority, lower first).

ID numbers and credit codes that fail their check character never win over ones that pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.settings import get_settings

RULES = ("most_frequent", "most_recent", "source_priority")
# attribute -> feature column holding its value
ATTRIBUTES: dict[str, dict[str, str]] = {
    "person": {"name": "name", "id_number": "id_number", "birth_date": "birth_date", "sex": "sex",
               "phone": "phone", "address": "address_std"},
    "organisation": {"name": "name", "credit_code": "credit_code", "phone": "phone", "address": "address_std"},
    "address": {"address": "address_std", "district": "addr_district"},
}
DEFAULT_RULES: dict[str, dict[str, str]] = {
    "person": {"name": "source_priority", "id_number": "source_priority", "birth_date": "most_frequent",
               "sex": "most_frequent", "phone": "most_recent", "address": "source_priority"},
    "organisation": {"name": "source_priority", "credit_code": "source_priority", "phone": "most_recent",
                     "address": "source_priority"},
    "address": {"address": "source_priority", "district": "most_frequent"},
}
VALIDITY = {"id_number": "id_valid", "credit_code": "credit_valid"}


if TYPE_CHECKING:
    from urbanbrain.govern.principals import Principal


def attributes_of(kind: str, columns: list[str] | None = None) -> dict[str, str]:
    """attribute -> feature column: the presets' Chinese features, or a configured kind's fields."""
    if kind in ATTRIBUTES and (columns is None or all(c in columns for c in ATTRIBUTES[kind].values())):
        return ATTRIBUTES[kind]
    from urbanbrain.link.kinds import get_kind

    return {f: f for f in get_kind(kind).fields if columns is None or f in columns}


def rules_path() -> Path:
    return get_settings().home_dir / "link" / "survivorship.json"


def rules_for(kind: str) -> dict[str, str]:
    path = rules_path()
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    defaults = DEFAULT_RULES.get(kind) or {a: "most_frequent" for a in attributes_of(kind)}
    return {**{a: "most_frequent" for a in attributes_of(kind)}, **defaults, **stored.get(kind, {})}


def set_rule(kind: str, attribute: str, rule: str, *, by: Principal | None = None) -> dict[str, str]:
    """Change one attribute's rule (a registry steward's decision); the next run's golden records follow it."""
    from urbanbrain.govern.authz import acting, authorize, record

    by = acting(by)
    authorize("link.golden_rule", by, "registry")
    known = {**ATTRIBUTES.get(kind, {}), **attributes_of(kind)}
    if attribute not in known:
        raise ValidationError(f"{kind} has no attribute {attribute!r}", hint=f"attributes: {', '.join(known)}")
    if rule not in RULES:
        raise ValidationError(f"unknown survivorship rule {rule!r}", hint=f"use one of {', '.join(RULES)}")
    path = rules_path()
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored.setdefault(kind, {})[attribute] = rule
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, ensure_ascii=False, indent=1), encoding="utf-8")
    record(by, "link.golden_rule", f"{kind}.{attribute}", {"rule": rule})
    return rules_for(kind)


def _order(rule: str, valid: str | None) -> str:
    first = f'"{valid}" DESC NULLS LAST, ' if valid else ""
    recent = "record_date DESC NULLS LAST"
    return first + {"most_frequent": f"freq DESC, priority, {recent}",
                    "most_recent": f"{recent}, priority, freq DESC",
                    "source_priority": f"priority, freq DESC, {recent}"}[rule] + ", unique_id"


def golden_records(kind: str, records: pa.Table, rules: dict[str, str] | None = None) -> pa.Table:
    """One row per entity in `records` (features + entity_id): each attribute, its source and date."""
    rules = rules or rules_for(kind)
    attributes = attributes_of(kind, records.column_names)
    con = duck.connect()
    try:
        con.register("ub_records", records)
        selects = ["SELECT entity_id, count(*) AS record_count FROM ub_records GROUP BY entity_id"]
        joins = []
        for n, (attr, column) in enumerate(attributes.items()):
            valid = VALIDITY.get(attr) if VALIDITY.get(attr) in records.column_names else None
            rule = rules.get(attr, "most_frequent")
            joins.append(f"""LEFT JOIN (
                SELECT entity_id, "{column}" AS "{attr}", source_dataset || '|' || record_key AS "{attr}_source",
                       record_date AS "{attr}_date"
                FROM (SELECT *, count(*) OVER (PARTITION BY entity_id, "{column}") AS freq FROM ub_records
                      WHERE "{column}" IS NOT NULL)
                QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY {_order(rule, valid)}) = 1
            ) a{n} USING (entity_id)""")
        cols = ", ".join(f'"{a}", "{a}_source", "{a}_date"' for a in attributes)
        sql = f"SELECT entity_id, record_count, {cols} FROM ({selects[0]}) base {' '.join(joins)} ORDER BY entity_id"
        table = con.execute(sql).fetch_arrow_table()
    finally:
        con.close()
    return table.cast(golden_schema(kind, list(attributes)))


def golden_schema(kind: str, attributes: list[str] | None = None) -> pa.Schema:
    fields = [pa.field("entity_id", pa.string()), pa.field("record_count", pa.int64())]
    for attr in attributes if attributes is not None else attributes_of(kind):
        fields += [pa.field(attr, pa.string()), pa.field(f"{attr}_source", pa.string()),
                   pa.field(f"{attr}_date", pa.string())]
    return pa.schema(fields)
