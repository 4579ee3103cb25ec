"""The base registries in the lake: `registry.<kind>.{records,xref,golden,events,review}`.

Tables are written through the lake writer (one atomic Iceberg commit each) and registered as
datasets of the `registry` department, so `urbanbrain sql` and every governed read path see them like
any synced dataset: the owning department reads them in clear, others under sharing grants and masks.

* `records` -- every linked source record's features, entity ID and match probability (internal:
  the next incremental run blocks new records against it);
* `xref`    -- source record -> entity ID with the match probability (what other systems join to);
* `golden`  -- one row per entity: best value, source and date of each attribute;
* `events`  -- created / merged / split / retired / removed, per run;
* `review`  -- uncertain pairs for the steward, with their decisions.

The trained model and the ID counter sit beside the mappings under `URBANBRAIN_HOME/link/`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import BooleanExpression
from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.core.errors import ConfigurationError
from urbanbrain.core.settings import get_settings
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.writer import TableWriter, in_values
from urbanbrain.meta.dataset_rows import record_dataset
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Department, System

DEPARTMENT = ("registry", "城市基础库（一数一源）")
XREF = pa.schema([("unique_id", pa.string()), ("entity_id", pa.string()), ("source_dataset", pa.string()),
                  ("record_key", pa.string()), ("match_probability", pa.float64()), ("run_id", pa.string())])
EVENTS = pa.schema([("run_id", pa.string()), ("at", pa.string()), ("event", pa.string()),
                    ("entity_id", pa.string()), ("other_entity_id", pa.string()), ("unique_id", pa.string()),
                    ("records", pa.int64())])
REVIEW = pa.schema([("pair_id", pa.string()), ("uid_l", pa.string()), ("uid_r", pa.string()),
                    ("entity_l", pa.string()), ("entity_r", pa.string()), ("probability", pa.float64()),
                    ("status", pa.string()), ("created_at", pa.string()), ("decided_by", pa.string()),
                    ("decided_at", pa.string()), ("run_id", pa.string())])
KEYS = {"records": "unique_id", "xref": "unique_id", "golden": "entity_id", "review": "pair_id"}


def ident(kind: str, table: str) -> tuple[str, str, str]:
    return ("registry", kind, table)


def dataset_name(kind: str, table: str) -> str:
    return ".".join(ident(kind, table))


def read(kind: str, table: str, columns: Iterable[str] | None = None) -> pa.Table | None:
    """The whole current snapshot of a registry table (internal use), or None before the first run."""
    catalog = get_catalog()
    if not catalog.table_exists(ident(kind, table)):
        return None
    scan = catalog.load_table(ident(kind, table)).scan(selected_fields=tuple(columns) if columns else ("*",))
    result: pa.Table = scan.to_arrow()
    return _plain(result)


def _plain(table: pa.Table) -> pa.Table:
    fields = [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema]
    return table.cast(pa.schema(fields))


def _registry_system(s: Session, kind: str) -> System:
    """The registry department's system for `kind`, created on first use.

    System names are unique city-wide: a department system already called `person` must not become the
    owner (and so the governor) of the person registry, so that is an error, raised before any write."""
    from urbanbrain.core.secrets import encrypt

    dept = s.scalar(select(Department).where(Department.code == DEPARTMENT[0]))
    if dept is None:
        dept = Department(code=DEPARTMENT[0], name=DEPARTMENT[1])
        s.add(dept)
        s.flush()
    system = s.scalar(select(System).where(System.name == kind))
    if system is None:
        system = System(name=kind, department_id=dept.id, kind="registry", options_secret=encrypt({}),
                        display_url=f"urbanbrain link ({kind})", schedule="manual",
                        description=f"base registry of {kind} entities, written by `urbanbrain link run`")
        s.add(system)
        s.flush()
    elif system.department_id != dept.id:
        raise ConfigurationError(
            f"a system named {kind!r} already belongs to department {system.department.code!r}, so the "
            f"{kind} registry cannot be registered as {DEPARTMENT[0]}.{kind}",
            hint="register that system under another name (`urbanbrain system remove`, then `system add`) "
                 "and run the link again")
    return system


def write(kind: str, table: str, data: pa.Table, *, replace_keys: set[str] | None = None) -> None:
    """Replace the table (`replace_keys` None) or only the rows whose key is in `replace_keys`.

    Rows of `data` are written either way; with `replace_keys` the delete and the append are one
    commit, so readers never see an entity half-updated.
    """
    with session_scope() as s:
        _registry_system(s, kind)  # refuse before touching the lake if the name is another department's
    key = KEYS.get(table)
    mode = "replace" if replace_keys is None else "replace_where"
    where: BooleanExpression | None = None
    if replace_keys is not None:
        if not replace_keys and not data.num_rows:
            return
        mode = "replace_where" if replace_keys else "append"
        where = in_values(key, replace_keys) if replace_keys and key else None
    writer = TableWriter(ident(kind, table), data.schema, mode=mode, replace_filter=where)
    target = writer.open()
    writer.write(data.select(target.names).cast(target) if data.num_rows else data.slice(0, 0).cast(data.schema))
    result = writer.commit(summary={"urbanbrain.link": kind})
    _register(kind, table, writer, result.total_rows, result.snapshot_id, key)


def append(kind: str, table: str, data: pa.Table) -> None:
    if data.num_rows:
        write(kind, table, data, replace_keys=set())


def _register(kind: str, table: str, writer: TableWriter, rows: int, snapshot_id: int | None,
              key: str | None) -> None:
    """Record the table as a dataset of the registry department (created on first use)."""
    from urbanbrain.core.clock import utcnow

    name = dataset_name(kind, table)
    with session_scope() as s:
        system = _registry_system(s, kind)
        # the registry's health is that of its last write, as a department system's is that of its last sync
        system.health, system.health_reason, system.health_checked_at = "healthy", None, utcnow()
        record_dataset(s, name, system_id=system.id, object_name=table, fields=writer.target_schema,
                       primary_key=[key] if key else [], rows=rows, snapshot_id=snapshot_id)


def state_dir() -> Path:
    path = get_settings().home_dir / "link"
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_path(kind: str) -> Path:
    return state_dir() / "models" / f"{kind}.json"


def save_model(kind: str, model: dict[str, Any]) -> Path:
    path = model_path(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def load_model(kind: str) -> dict[str, Any] | None:
    path = model_path(kind)
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


def meta_path(kind: str) -> Path:
    return state_dir() / "models" / f"{kind}.meta.json"


def save_model_meta(kind: str, meta: dict[str, Any]) -> None:
    """What a model was trained on (the mapping's fingerprint, engine, rules chosen): a run whose mapping
    differs retrains instead of reusing it."""
    path = meta_path(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def load_model_meta(kind: str) -> dict[str, Any]:
    path = meta_path(kind)
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def load_state(kind: str) -> dict[str, Any]:
    path = state_dir() / f"{kind}.state.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def save_state(kind: str, state: dict[str, Any]) -> None:
    (state_dir() / f"{kind}.state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
