"""Classification: every field's sharing level (`open`, `conditional`, `closed`) and PII type.

A field a steward has not classified takes its dataset's default level (`conditional` unless set:
nothing is shared without a request until someone decides it may be). On sync, new columns are
sampled and PII types proposed (`propose_new_columns`); a proposal may raise a field's level to
`conditional` but never lowers one, and a steward confirms or corrects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.govern import access
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.masking import check_method, default_mask
from urbanbrain.govern.pii import PII_TYPES, Proposal, propose_table
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, DatasetClassification, FieldClassification, RowFilter, System

OPEN, CONDITIONAL, CLOSED = "open", "conditional", "closed"
LEVELS = (OPEN, CONDITIONAL, CLOSED)
RANK = {OPEN: 0, CONDITIONAL: 1, CLOSED: 2}
DEFAULT_LEVEL = CONDITIONAL


@dataclass(frozen=True)
class FieldInfo:
    column: str
    type: str
    level: str
    pii_type: str | None
    mask: str  # how it looks to others when shown masked: partial | hash | redact | none
    status: str  # default | proposed | confirmed
    proposed_pii_type: str | None = None
    proposed_confidence: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValidationError(f"unknown sharing level {level!r}", hint=f"use one of {', '.join(LEVELS)}")
    return level


def dataset_row(session: Session, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name.lower())
                        .options(joinedload(Dataset.system).joinedload(System.department)))
    if ds is None:
        raise NotFoundError(f"no dataset named {name!r}",
                            hint="names are department.system.object; list them with `urbanbrain dataset list`")
    return ds


def default_level(session: Session, ds: Dataset) -> str:
    row = session.get(DatasetClassification, ds.id)
    return row.default_level if row else DEFAULT_LEVEL


def field_table(session: Session, ds: Dataset) -> list[FieldInfo]:
    """Every column of the dataset in schema order, with its effective level."""
    rows = list(session.scalars(select(FieldClassification).where(FieldClassification.dataset_id == ds.id)))
    return fields_of(ds, default_level(session, ds), rows)


def fields_of(ds: Dataset, fallback: str, classified: list[FieldClassification]) -> list[FieldInfo]:
    """`field_table` from rows already read (`govern.policy` reads many datasets' rows in one query)."""
    rows = {r.column: r for r in classified}
    out: list[FieldInfo] = []
    for col in ds.schema_json:
        name, typ = str(col["name"]), str(col.get("type", ""))
        r = rows.get(name)
        if r is None:
            out.append(FieldInfo(name, typ, fallback, None, "none", "default"))
            continue
        out.append(FieldInfo(name, typ, r.level, r.pii_type, r.mask or default_mask(r.pii_type), r.status,
                             r.proposed_pii_type, r.proposed_confidence))
    return out


def owner_of(ds: Dataset) -> str:
    return ds.system.department.code


def _require_steward(principal: Principal, ds: Dataset, action: str) -> None:
    """The owning department's stewards and admins classify its data (the rule is `RULES[action]`)."""
    authorize(action, principal, owner_of(ds))


def get_classification(name: str) -> tuple[str, list[FieldInfo]]:
    """(default level, fields) of one dataset."""
    with session_scope() as s:
        ds = dataset_row(s, name)
        return default_level(s, ds), field_table(s, ds)


def set_default_level(name: str, level: str, by: Principal | None = None) -> None:
    by = acting(by)
    check_level(level)
    with session_scope() as s:
        ds = dataset_row(s, name)
        _require_steward(by, ds, "classification.default")
        row = s.get(DatasetClassification, ds.id)
        old = row.default_level if row else DEFAULT_LEVEL
        if row is None:
            row = DatasetClassification(dataset_id=ds.id)
            s.add(row)
        row.default_level, row.updated_at, row.updated_by = level, utcnow(), by.label
    access.on_change(by, "classification.default", name, {"from": old, "to": level})


def set_field(name: str, column: str, *, level: str | None = None, pii_type: str | None = None,
              mask: str | None = None, clear_pii: bool = False, by: Principal | None = None) -> FieldInfo:
    """A steward's decision on one field; it is `confirmed` from then on, so syncs leave it alone.

    `pii_type="proposed"` accepts the pending proposal."""
    by = acting(by)
    if level is not None:
        check_level(level)
    if mask is not None:
        check_method(mask)
    with session_scope() as s:
        ds = dataset_row(s, name)
        _require_steward(by, ds, "classification.field")
        columns = [str(c["name"]) for c in ds.schema_json]
        if column not in columns:
            raise NotFoundError(f"{name} has no column {column!r}", hint=f"its columns: {', '.join(columns)}")
        row = s.scalar(select(FieldClassification).where(FieldClassification.dataset_id == ds.id,
                                                        FieldClassification.column == column))
        if row is None:
            row = FieldClassification(dataset_id=ds.id, column=column, level=default_level(s, ds))
            s.add(row)
        before = {"level": row.level, "pii_type": row.pii_type, "mask": row.mask}
        if pii_type == "proposed":
            if not row.proposed_pii_type:
                raise ValidationError(f"{name}.{column} has no pending PII proposal")
            pii_type = row.proposed_pii_type
        if pii_type is not None and pii_type not in PII_TYPES:
            raise ValidationError(f"unknown PII type {pii_type!r}", hint=f"use one of {', '.join(PII_TYPES)}")
        if pii_type is not None:
            row.pii_type = pii_type
        if clear_pii:
            row.pii_type = None
        if level is not None:
            row.level = level
        if mask is not None:
            row.mask = mask
        row.status, row.updated_at, row.updated_by = "confirmed", utcnow(), by.label
        s.flush()
        after = {"level": row.level, "pii_type": row.pii_type, "mask": row.mask}
        info = next(f for f in field_table(s, ds) if f.column == column)
    access.on_change(by, "classification.field", f"{name}.{column}", {"from": before, "to": after})
    return info


def record_proposals(name: str, proposals: list[Proposal]) -> list[str]:
    """Store proposals for columns nobody has classified yet; returns the columns that got one.

    A proposed PII field starts at `conditional` or the dataset default, whichever is stricter."""
    changed: list[str] = []
    with session_scope() as s:
        ds = dataset_row(s, name)
        fallback = default_level(s, ds)
        known = set(s.scalars(select(FieldClassification.column).where(FieldClassification.dataset_id == ds.id)))
        for p in proposals:
            if p.column in known:
                continue
            level = fallback if RANK[fallback] >= RANK[CONDITIONAL] else CONDITIONAL
            s.add(FieldClassification(dataset_id=ds.id, column=p.column, level=level, pii_type=p.pii_type,
                                      proposed_pii_type=p.pii_type, proposed_confidence=p.confidence,
                                      status="proposed", updated_by="sync"))
            changed.append(p.column)
    return changed


def unclassified_columns(name: str) -> list[str]:
    with session_scope() as s:
        ds = dataset_row(s, name)
        known = set(s.scalars(select(FieldClassification.column).where(FieldClassification.dataset_id == ds.id)))
        return [str(c["name"]) for c in ds.schema_json if str(c["name"]) not in known]


def _sample(name: str, columns: list[str], rows: int) -> dict[str, list[Any]]:
    """The first `rows` values of `columns`, read straight from the table's first data file.

    Internal and cheap (no query engine: a sync proposes for every dataset it writes). Parquet columns
    are matched by Iceberg field id, as the engine does, since writers sanitise their names."""
    import pyarrow.parquet as pq

    from urbanbrain.lake.engine import table_files

    files, fields = table_files(tuple(name.split(".")))
    wanted = {fid: col for fid, col, _ in fields if col in columns}
    out: dict[str, list[Any]] = {c: [] for c in columns}
    if not files:
        return out
    pf = pq.ParquetFile(files[0])
    by_id = {int(f.metadata[b"PARQUET:field_id"]): f.name for f in pf.schema_arrow
             if f.metadata and b"PARQUET:field_id" in f.metadata}
    present = {fid: by_id[fid] for fid in wanted if fid in by_id}
    batch = next(pf.iter_batches(batch_size=rows, columns=list(present.values())), None)
    if batch is not None:
        for fid, physical in present.items():
            out[wanted[fid]] = batch.column(physical).to_pylist()
    return out


def propose_new_columns(name: str, sample_rows: int = 500) -> list[str]:
    """Sample the columns nobody has classified and record PII proposals (called after each sync)."""
    columns = unclassified_columns(name)
    if not columns:
        return []
    return record_proposals(name, propose_table(_sample(name, columns, sample_rows)))


def _check_predicate(predicate: str) -> str:
    """A row filter is one boolean expression over the dataset's columns: no sub-queries, no tables."""
    from urbanbrain.lake.engine import nodes, parse_tree

    tree = parse_tree(f"SELECT 1 FROM ub_rows WHERE ({predicate})")
    statements = tree.get("statements", [])
    tables = [n for n in nodes(tree) if "sample" in n and n.get("type") != "SELECT_NODE"]
    if len(statements) != 1 or len(tables) != 1 or tables[0].get("table_name") != "ub_rows" \
            or any(n.get("type") == "SUBQUERY" or n.get("class") == "SUBQUERY" for n in nodes(tree)):
        raise ValidationError("a row filter is one condition over the dataset's columns, e.g. district = '岳麓区'")
    return predicate


def set_row_filter(name: str, department: str, predicate: str | None, by: Principal | None = None) -> None:
    """Limit which rows `department` sees of `name` (None removes the filter)."""
    by = acting(by)
    with session_scope() as s:
        ds = dataset_row(s, name)
        _require_steward(by, ds, "classification.row_filter")
        row = s.scalar(select(RowFilter).where(RowFilter.dataset_id == ds.id, RowFilter.department == department))
        if predicate is None:
            if row is not None:
                s.delete(row)
        else:
            _check_predicate(predicate)
            if row is None:
                row = RowFilter(dataset_id=ds.id, department=department.lower(), predicate=predicate)
                s.add(row)
            row.predicate, row.created_by = predicate, by.label
    access.on_change(by, "classification.row_filter", f"{name}:{department}", {"predicate": predicate})
