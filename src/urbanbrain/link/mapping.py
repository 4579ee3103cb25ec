"""Which dataset columns mean what, per entity kind: the steward's mapping.

A mapping says "in `police.hukou_registry.residents`, the person's name is `name`, the ID number is
`id_number`, the record key is `record_id`". Mappings live in `URBANBRAIN_HOME/link/mappings.json`
so a steward can edit them (`urbanbrain link map`) and every run reads the same file. `propose`
suggests a mapping from column names (English and the Chinese headers departments export), which is
how the demo city is mapped without hand-written tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.principals import Principal

REGISTRY = "registry"  # the base registries' department (link.store.DEPARTMENT); its stewards map datasets

KINDS = ("person", "organisation", "address")
FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("name", "id_number", "birth_date", "phone", "address", "sex"),
    "organisation": ("name", "credit_code", "phone", "address"),
    "address": ("address",),
}
# column names that usually hold a field (lower-case English, or the Chinese header as exported)
HINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {"name": ("name", "姓名", "经营者"),
               "id_number": ("id_number", "身份证号", "身份证号码", "身份证"),
               "birth_date": ("birth_date", "出生日期"), "phone": ("phone", "联系电话", "电话"),
               "address": ("address", "暂住地址", "家庭住址", "经营地点", "住址"), "sex": ("sex", "性别")},
    "organisation": {"name": ("name", "企业名称", "单位名称"),
                     "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
                     "phone": ("phone",), "address": ("address", "通信地址", "地址")},
    "address": {"address": ("standard", "address", "located_at", "location", "暂住地址", "家庭住址", "经营地点",
                            "通信地址", "地址")},
}
# which kind a dataset's people-or-firm columns belong to: a credit code means firms, an ID number people
MARKERS = {"organisation": ("credit_code", "统一社会信用代码", "信用代码"),
           "person": ("id_number", "身份证号", "身份证号码", "身份证")}
# a person who is one party of a record (caller_name, caller_phone): only that party's columns are theirs
# (the hotline ticket's `address` is where the problem is, not where the caller lives)
PARTY_PREFIXES = ("caller_", "applicant_", "owner_", "contact_")


@dataclass
class Mapping:
    """One dataset mapped to one kind: `columns` maps field -> column; lower `priority` wins ties in
    survivorship; `date_column` dates each record (for 'most recent' rules)."""

    kind: str
    dataset: str
    key_column: str
    columns: dict[str, str]
    priority: int = 100
    date_column: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def mappings_path() -> Path:
    return get_settings().home_dir / "link" / "mappings.json"


def load_mappings(kind: str | None = None) -> list[Mapping]:
    path = mappings_path()
    if not path.exists():
        return []
    rows = [Mapping(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    return [m for m in rows if kind is None or m.kind == kind]


def save_mappings(mappings: list[Mapping]) -> Path:
    path = mappings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(mappings, key=lambda m: (m.kind, m.priority, m.dataset))
    path.write_text(json.dumps([asdict(m) for m in ordered], ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationError(f"unknown entity kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    return kind


def set_mapping(mapping: Mapping, *, by: Principal | None = None) -> None:
    """Add or replace the mapping of (kind, dataset), as a steward of the registry."""
    by = acting(by)
    authorize("link.mapping", by, REGISTRY)
    check_kind(mapping.kind)
    unknown = sorted(set(mapping.columns) - set(FIELDS[mapping.kind]))
    if unknown:
        raise ValidationError(f"{mapping.kind} has no field {', '.join(unknown)}",
                              hint=f"fields of {mapping.kind}: {', '.join(FIELDS[mapping.kind])}")
    rest = [m for m in load_mappings() if (m.kind, m.dataset) != (mapping.kind, mapping.dataset)]
    save_mappings([*rest, mapping])
    record(by, "link.mapping", f"{mapping.kind}:{mapping.dataset}", {"set": True, "key": mapping.key_column,
                                                                     "columns": dict(mapping.columns)})


def remove_mapping(kind: str, dataset: str, *, by: Principal | None = None) -> None:
    by = acting(by)
    authorize("link.mapping", by, REGISTRY)
    rows = load_mappings()
    rest = [m for m in rows if (m.kind, m.dataset) != (kind, dataset)]
    if len(rest) == len(rows):
        raise NotFoundError(f"no {kind} mapping for {dataset}", hint="list them with `urbanbrain link map --show`")
    save_mappings(rest)
    record(by, "link.mapping", f"{kind}:{dataset}", {"set": False})


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def propose(kind: str, dataset: str, columns: list[str], key_column: str | None,
            priority: int = 100) -> Mapping | None:
    """A mapping guessed from column names, or None when the dataset does not describe this kind.

    People need a name or ID number column and no credit code; organisations a credit code column;
    addresses any address column. Datasets outside the registry department only.
    """
    check_kind(kind)
    if not key_column or dataset.startswith("registry."):
        return None
    prefix = ""
    if kind == "person":
        prefix = next((p for p in PARTY_PREFIXES if f"{p}name" in columns or f"{p}id_number" in columns), "")
    hints = {f: tuple(prefix + h for h in names) for f, names in HINTS[kind].items()}
    found = {f: c for f in FIELDS[kind] if (c := _find(columns, hints.get(f, ()))) is not None}
    if kind == "person" and (not _find(columns, tuple(prefix + h for h in MARKERS["person"]))
                             or _find(columns, MARKERS["organisation"])):
        return None
    if kind == "organisation" and not _find(columns, MARKERS["organisation"]):
        return None
    if kind == "organisation" and "name" not in found:
        return None
    if kind == "address" and "address" not in found:
        return None
    date = _find(columns, ("updated_at", "登记日期", "registered_at", "signed_at", "reported_at"))
    return Mapping(kind, dataset, key_column, found, priority, date)


# the registries of record come first when attributes tie (household register, enterprise register,
# standard address registry); everything else after, in name order
PRIORITY_HINTS = {"police.hukou_registry.": 10, "market.enterprise_registry.": 10, "resources.address_registry.": 10,
                  "hrss.": 30, "health.": 40, "education.": 40, "civil.": 50, "market.": 30}


def propose_all(kind: str) -> list[Mapping]:
    """Proposals for every dataset in the lake (the steward reviews them with `urbanbrain link map`)."""
    from urbanbrain.lake.datasets import list_datasets

    out = []
    for ds in list_datasets(include_quarantine=False):
        if ds.name.startswith("registry."):
            continue
        priority = next((p for prefix, p in PRIORITY_HINTS.items() if ds.name.startswith(prefix)), 100)
        columns = [str(c.get("name")) for c in ds.columns]
        # exports carry no declared key; their first column is the record number (序号, 登记编号, ...)
        key = ds.primary_key[0] if len(ds.primary_key) == 1 else (columns[0] if columns else None)
        m = propose(kind, ds.name, columns, key, priority)
        if m is not None:
            out.append(m)
    return out
