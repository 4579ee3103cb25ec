"""Service functions the CLI, the console and the capabilities share: status, one entity, evaluation."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core.errors import NotFoundError
from urbanbrain.link import store
from urbanbrain.link.evaluate import score
from urbanbrain.link.ids import PREFIX
from urbanbrain.link.kinds import all_kinds
from urbanbrain.link.mapping import KINDS, check_kind, load_mappings


def status(kind: str) -> dict[str, Any]:
    """Sizes of the registry, events by type, pending reviews, the model and the last run."""
    check_kind(kind)
    golden = store.read(kind, "golden", ["entity_id"])
    xref = store.read(kind, "xref", ["unique_id"])
    events = store.read(kind, "events", ["event"])
    review = store.read(kind, "review", ["status"])
    state = store.load_state(kind)
    return {
        "kind": kind, "mapped_datasets": len(load_mappings(kind)), "records": xref.num_rows if xref else 0,
        "entities": golden.num_rows if golden else 0,
        "events": {str(d["values"]): int(d["counts"]) for d in pc.value_counts(events.column("event")).to_pylist()}
        if events is not None and events.num_rows else {},
        "pending_review": int(pc.sum(pc.equal(review.column("status"), "pending")).as_py() or 0)
        if review is not None and review.num_rows else 0,
        "model": str(store.model_path(kind)) if store.model_path(kind).exists() else None,
        "last_run": state.get("last_run"), "last_mode": state.get("mode"),
    }


def kind_of(entity_id: str) -> str:
    prefixes = {**PREFIX, **{k: d.prefix for k, d in all_kinds().items()}}
    kind = next((k for k, p in prefixes.items() if entity_id.startswith(p)), None)
    if kind is None:
        raise NotFoundError(f"{entity_id!r} is not an entity ID",
                            hint="entity IDs start with " + ", ".join(prefixes.values()))
    return kind


def entity(entity_id: str) -> dict[str, Any]:
    """The golden record and every linked source record of one entity (SYSTEM view, for the CLI)."""
    kind = kind_of(entity_id)
    golden = store.read(kind, "golden")
    rows = golden.filter(pc.equal(golden.column("entity_id"), entity_id)).to_pylist() if golden else []
    if not rows:
        raise NotFoundError(f"no {kind} entity {entity_id}", hint=f"run `urbanbrain link run {kind}` first")
    xref = store.read(kind, "xref")
    links = xref.filter(pc.equal(xref.column("entity_id"), entity_id)).to_pylist() if xref else []
    events = store.read(kind, "events")
    history = events.filter(pc.or_(pc.equal(events.column("entity_id"), entity_id),
                                   pc.equal(events.column("other_entity_id"), entity_id))).to_pylist() \
        if events is not None else []
    return {"kind": kind, "golden": rows[0], "links": links, "events": history}


def evaluate_all(kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, Any]]:
    """Precision/recall/F1 per kind against the demo's ground truth (kinds not yet run are skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        xref = store.read(kind, "xref")
        if xref is None:
            continue
        out[kind] = score(kind, xref).as_dict()
    return out


def registry_table(kind: str, table: str) -> pa.Table:
    data = store.read(check_kind(kind), table)
    if data is None:
        raise NotFoundError(f"registry.{kind}.{table} does not exist yet", hint=f"run `urbanbrain link run {kind}`")
    return data
