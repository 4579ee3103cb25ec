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
from urbanbrain.link.kinds import CN_FIELDS, PRESETS, get_kind
from urbanbrain.link.kinds import check_kind as check_kind

REGISTRY = "registry"  # the base registries' department (link.store.DEPARTMENT); its stewards map datasets

KINDS = PRESETS  # the preset kinds; `kinds.all_kinds()` lists the steward's too
# the fields the presets' Chinese engine reads (who_is_this probes with these)
FIELDS: dict[str, tuple[str, ...]] = dict(CN_FIELDS)
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
    """One dataset mapped to one kind: `columns` maps field -> source, where a source is a column, a list
    of columns joined with a space (first and last name into `name`) or `=EXPRESSION` (a SQL expression
    over the dataset's columns, e.g. `=lower(city) || ' ' || zip`); lower `priority` wins ties in
    survivorship; `date_column` dates each record (for 'most recent' rules); `reasons` say why a
    proposal chose each column."""

    kind: str
    dataset: str
    key_column: str
    columns: dict[str, Any]
    priority: int = 100
    date_column: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


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


def set_mapping(mapping: Mapping, *, by: Principal | None = None) -> None:
    """Add or replace the mapping of (kind, dataset), as a steward of the registry; fields must be the
    kind's, expressions safe."""
    by = acting(by)
    authorize("link.mapping", by, REGISTRY)
    kind = get_kind(mapping.kind)
    unknown = sorted(set(mapping.columns) - set(kind.fields))
    if unknown:
        raise ValidationError(f"{mapping.kind} has no field {', '.join(unknown)}",
                              hint=f"fields of {mapping.kind}: {', '.join(kind.fields)}; or define a kind with "
                                   "`urbanbrain link kind define`")
    for fld, source in mapping.columns.items():
        check_source(fld, source)
    rest = [m for m in load_mappings() if (m.kind, m.dataset) != (mapping.kind, mapping.dataset)]
    save_mappings([*rest, mapping])
    record(by, "link.mapping", f"{mapping.kind}:{mapping.dataset}", {"set": True, "key": mapping.key_column,
                                                                     "columns": dict(mapping.columns)})


def parse_source(text: str) -> str | list[str]:
    """CLI form of a source: `col`, `first+last` (several columns) or `=EXPRESSION`."""
    if text.startswith("="):
        return text
    parts = [p.strip() for p in text.split("+")]
    return parts if len(parts) > 1 else parts[0]


# functions an expression may call: text shaping only (no table functions, no subqueries)
SAFE_FUNCTIONS = {"concat", "concat_ws", "lower", "upper", "trim", "ltrim", "rtrim", "substr", "substring",
                  "replace", "coalesce", "nullif", "regexp_replace", "regexp_extract", "left", "right",
                  "split_part", "strip_accents", "lpad", "rpad", "cast", "trycast", "try_cast", "strftime",
                  "length", "reverse", "dpipe", "if", "case", "round", "abs"}


def check_source(fld: str, source: Any) -> None:
    """A mapped source is a column name, a non-empty list of them, or a safe `=EXPRESSION`."""
    if isinstance(source, list):
        if not source or not all(isinstance(c, str) and c for c in source):
            raise ValidationError(f"field {fld!r}: a list of columns must name at least one column",
                                  hint="e.g. name=first_name+last_name")
        return
    if not isinstance(source, str) or not source:
        raise ValidationError(f"field {fld!r} has no column", hint="field=column, field=a+b or field==EXPRESSION")
    if source.startswith("="):
        _check_expression(fld, source[1:])


def _check_expression(fld: str, text: str) -> None:
    import sqlglot
    from sqlglot import exp

    try:
        trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
    except sqlglot.errors.ParseError as e:
        raise ValidationError(f"field {fld!r}: the expression does not parse: {str(e).splitlines()[0]}",
                              hint="write a SQL expression over the dataset's columns, e.g. =lower(city)") from e
    if len(trees) != 1 or isinstance(trees[0], exp.Command):
        raise ValidationError(f"field {fld!r}: a mapping expression is one expression, not statements",
                              hint="no ';' or commands: e.g. =lower(city) || ' ' || zip")
    tree = trees[0]
    for node in tree.walk():
        if isinstance(node, exp.Query | exp.Subquery | exp.Table | exp.Star | exp.Placeholder):
            raise ValidationError(f"field {fld!r}: an expression may only use the dataset's own columns",
                                  hint="no queries, tables or * inside a mapping expression")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name not in SAFE_FUNCTIONS:
                raise ValidationError(f"field {fld!r}: function {name}() is not allowed in a mapping expression",
                                      hint=f"allowed: {', '.join(sorted(SAFE_FUNCTIONS))}")


def expression_sql(source: str) -> str:
    """The SQL a saved `=EXPRESSION` runs as: re-rendered from its parse tree (what `check_source` checked),
    never the stored text itself."""
    import sqlglot

    return sqlglot.parse_one(source[1:], read="duckdb").sql(dialect="duckdb")


def sources(m: Mapping) -> list[str]:
    """Every source column a mapping reads (expressions: the columns they name)."""
    out: list[str] = [m.key_column]
    for source in m.columns.values():
        if isinstance(source, list):
            out += source
        elif source.startswith("="):
            import sqlglot
            from sqlglot import exp

            out += [c.name for c in sqlglot.parse_one(source[1:], read="duckdb").find_all(exp.Column)]
        else:
            out.append(source)
    return out


def override(kind: str, dataset: str, items: list[str], *, key: str | None = None, priority: int | None = None,
             date_column: str | None = None, by: Principal | None = None) -> Mapping:
    """Apply `field=source` items over the current mapping of (kind, dataset), or a new one: `field=col`,
    `field=a+b`, `field==EXPRESSION`; `field=` drops the field. The CLI's `link map KIND DATASET -c` and
    the console's mapping form both call this, so a steward corrects any proposal field by field."""
    current = next((m for m in load_mappings(kind) if m.dataset == dataset), None)
    base = current or Mapping(kind, dataset, key or default_key(dataset), {})
    cols = dict(base.columns)
    reasons = dict(base.reasons)
    for item in items:
        fld, eq, src = item.partition("=")
        fld = fld.strip()
        if not eq or not fld:
            raise ValidationError(f"{item!r} is not field=column", hint="e.g. name=first_name+last_name, or name= "
                                                                      "to drop a field")
        if src.strip():
            cols[fld] = parse_source(src.strip())
            reasons[fld] = "set by the steward"
        else:
            cols.pop(fld, None)
            reasons.pop(fld, None)
    out = Mapping(kind, dataset, key or base.key_column, cols, base.priority if priority is None else priority,
                  date_column or base.date_column, reasons=reasons)
    set_mapping(out, by=by)
    return out


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


# columns that say a dataset describes people or firms when no national identifier is there
LATIN_MARKERS = {"person": ("first_name", "firstname", "given_name", "last_name", "lastname", "surname", "email"),
                 "organisation": ("company", "company_name", "organisation", "organization", "business",
                                  "business_name", "firm", "employer", "restaurant", "shop", "store", "merchant",
                                  "公司名称", "机构名称", "商户名称", "店名")}


def propose(kind: str, dataset: str, columns: list[str], key_column: str | None,
            priority: int = 100, samples: dict[str, list[Any]] | None = None) -> Mapping | None:
    """A mapping guessed from column names, or None when the dataset does not describe this kind.

    The Chinese presets: people need an ID number column and no credit code; organisations a credit
    code and a name column; addresses any address column. Without those, people are recognised by
    first/last-name or e-mail columns, firms by company-like columns, a steward's kind by at least two
    of its fields (or its only one). Datasets outside the registry department only.
    """
    from urbanbrain.link.propose import propose_columns

    definition = get_kind(kind)
    if not key_column or dataset.startswith("registry."):
        return None
    cn = _propose_cn(kind, dataset, columns, key_column, priority) if kind in PRESETS else None
    if cn is not None:
        return cn
    lower = {c.lower() for c in columns}
    if kind in LATIN_MARKERS and not any(m in lower for m in LATIN_MARKERS[kind]):
        return None
    if kind == "person" and _find(columns, MARKERS["organisation"]):
        return None
    found, reasons = propose_columns(definition, columns, samples, exclude=[key_column])
    if kind in PRESETS and "name" not in found and kind != "address":
        return None
    if len(found) < min(2, len(definition.fields)):
        return None
    date = _find(columns, ("updated_at", "登记日期", "registered_at", "signed_at", "reported_at"))
    return Mapping(kind, dataset, key_column, found, priority, date, reasons=reasons)


def _propose_cn(kind: str, dataset: str, columns: list[str], key_column: str, priority: int) -> Mapping | None:
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
    reasons = {f: f"column name {c!r} means {f}" for f, c in found.items()}
    return Mapping(kind, dataset, key_column, found, priority, date, reasons=reasons)


def default_key(dataset: str) -> str:
    """The dataset's declared single-column key, else its first column (exports: 序号, 登记编号, id)."""
    from urbanbrain.lake.datasets import get_dataset

    ds = get_dataset(dataset)
    columns = [str(c.get("name")) for c in ds.columns]
    if len(ds.primary_key) == 1:
        return str(ds.primary_key[0])
    if not columns:
        raise ValidationError(f"{dataset} has no columns", hint="sync it first (`urbanbrain sync`)")
    return columns[0]


def propose_dataset(kind: str, dataset: str, key_column: str | None = None) -> Mapping:
    """The steward named the dataset: propose its columns from names and sampled values, ungated."""
    from urbanbrain.lake.datasets import get_dataset
    from urbanbrain.link.propose import propose_columns, sample_values

    definition = get_kind(kind)
    ds = get_dataset(dataset)
    columns = [str(c.get("name")) for c in ds.columns]
    key = key_column or (ds.primary_key[0] if len(ds.primary_key) == 1 else (columns[0] if columns else None))
    if not key or key not in columns:
        raise ValidationError(f"{dataset} has no column {key!r} to use as the record key",
                              hint=f"name one with --key (columns: {', '.join(columns)})")
    found, reasons = propose_columns(definition, columns, sample_values(dataset, columns), exclude=[key])
    if not found:
        raise ValidationError(f"no column of {dataset} looks like a field of {kind}",
                              hint=f"map them by hand: --column field=column (fields: {', '.join(definition.fields)})")
    priority = next((p for prefix, p in PRIORITY_HINTS.items() if dataset.startswith(prefix)), 100)
    for fld, source in found.items():
        if definition.fields.get(fld) == "category" and isinstance(source, str):
            note = _agreement(kind, dataset, fld, source)
            if note:
                reasons[fld] = f"{reasons[fld]}; {note}"
    return Mapping(kind, dataset, key, found, priority, None, reasons={"key": f"record key {key!r}", **reasons})


def _agreement(kind: str, dataset: str, fld: str, column: str) -> str:
    """How far a category's values agree with another mapped source's: the share of sampled values that
    share a word with the other's values (two guides label one cuisine "french" and "french bistro"; the
    comparison has a "a word shared" level for that)."""
    from urbanbrain.core.errors import UrbanBrainError
    from urbanbrain.link.propose import sample_values
    from urbanbrain.link.textnorm import fold

    other = next((m for m in load_mappings(kind) if m.dataset != dataset and isinstance(m.columns.get(fld), str)
                  and not str(m.columns[fld]).startswith("=")), None)
    if other is None:
        return ""
    try:
        mine = sample_values(dataset, [column]).get(column, [])
        theirs = sample_values(other.dataset, [str(other.columns[fld])]).get(str(other.columns[fld]), [])
    except UrbanBrainError:
        return ""
    words = {w for v in theirs for w in (fold(str(v)) or "").split() if v is not None}
    values = [set((fold(str(v)) or "").split()) for v in mine if v is not None and str(v).strip()]
    if not values or not words:
        return ""
    exact = len({fold(str(v)) for v in mine if v is not None} & {fold(str(v)) for v in theirs if v is not None})
    share = sum(1 for v in values if v & words) / len(values)
    return (f"{share:.0%} of its sampled values share a word with {other.dataset}'s {fld} "
            f"({exact} identical labels): compared by shared words, not only exact labels")


# the registries of record come first when attributes tie (household register, enterprise register,
# standard address registry); everything else after, in name order
PRIORITY_HINTS = {"police.hukou_registry.": 10, "market.enterprise_registry.": 10, "resources.address_registry.": 10,
                  "hrss.": 30, "health.": 40, "education.": 40, "civil.": 50, "market.": 30}


def propose_and_save(kind: str, dataset: str, key_column: str | None = None, *,
                     by: Principal | None = None) -> Mapping:
    """A steward asks for a dataset's proposal and keeps it (the console's "propose" button): authorised
    before any value is sampled."""
    by = acting(by)
    authorize("link.mapping", by, REGISTRY)
    proposed = propose_dataset(kind, dataset, key_column)
    set_mapping(proposed, by=by)
    return proposed


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
