"""Training a kind: which engine and rules, the fit itself, and the record of what it was trained on.

The presets' Chinese engine (`specs`) runs when the data carries the national identifier; every other
kind, and a preset without it, gets a model built from its fields' comparison types with blocking and
deterministic rules measured on the data (`choose`). The saved model is accompanied by its *meta*: a
fingerprint of the kind's definition and mappings, the engine, the rules chosen with their pair counts
and what training had to fall back on. A run whose fingerprint differs retrains (`current_model`), so
a changed mapping never silently reuses the old model.

Link-only kinds (`mode = link_only`) link exactly two datasets against each other; no pair within one
dataset is ever compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core.errors import ValidationError
from urbanbrain.link import choose, model, store
from urbanbrain.link.kinds import get_kind
from urbanbrain.link.mapping import Mapping
from urbanbrain.link.model import ModelSpec
from urbanbrain.link.prepare import BASE, engine
from urbanbrain.link.specs import SPECS

META = [f.name for f in BASE]


def features(table: pa.Table) -> pa.Table:
    """Only what Splink compares: drop provenance and registry columns."""
    drop = [c for c in (*META[1:], "entity_id", "match_probability") if c in table.column_names]
    return table.drop_columns(drop)


def fingerprint(kind: str, mappings: list[Mapping]) -> str:
    """Changes when anything a model depends on changes: the kind's fields, mode, threshold, the engine
    and each mapping's dataset, key and field sources (not priorities or date columns)."""
    definition = asdict(get_kind(kind))
    rows = sorted((m.dataset, m.key_column, json.dumps(m.columns, sort_keys=True, ensure_ascii=False))
                  for m in mappings)
    text = json.dumps([definition, engine(kind, mappings), rows], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def sides(kind: str, records: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """(left, right) of a link-only kind (its two datasets), or (records, None) when deduplicating."""
    if get_kind(kind).mode != "link_only":
        return records, None
    datasets = sorted(set(records.column("source_dataset").to_pylist()))
    if len(datasets) != 2:
        raise ValidationError(f"{kind} links two datasets against each other (mode link_only) but "
                              f"{len(datasets)} have records: {', '.join(datasets) or 'none'}",
                              hint=f"map exactly two datasets to {kind}, or set `urbanbrain link kind mode {kind} "
                                   "dedupe`")
    left = records.filter(pc.equal(records.column("source_dataset"), datasets[0]))
    right = records.filter(pc.equal(records.column("source_dataset"), datasets[1]))
    return left, right


def train_records(kind: str, records: pa.Table, mappings: list[Mapping]) -> dict[str, Any]:
    """Fit and save the kind's model on `records`; returns the model (its meta is saved beside it)."""
    if records.num_rows < 2:
        raise ValidationError(f"only {records.num_rows} {kind} record(s) to learn from",
                              hint="sync the mapped datasets first (`urbanbrain sync`)")
    definition = get_kind(kind)
    engine_name = engine(kind, mappings)
    left, right = sides(kind, records)
    link_type: model.LinkType = "link_only" if right is not None else "dedupe_only"
    notes: list[str] = []
    plan: dict[str, Any] = {}
    if engine_name == "cn":
        spec = SPECS[kind]
    else:
        chosen = choose.plan(kind, definition.fields, features(left), link_only=right is not None,
                             other=features(right) if right is not None else None)
        spec = choose.spec_for(kind, definition.fields, chosen, threshold=definition.threshold)
        plan = chosen.as_dict()
    fitted = model.train(spec, features(left), link_type=link_type,
                         other=features(right) if right is not None else None, report=notes)
    store.save_model(kind, fitted)
    store.save_model_meta(kind, {
        "fingerprint": fingerprint(kind, mappings), "engine": engine_name, "mode": definition.mode,
        "threshold": spec.threshold, "review_low": spec.review_low, "plan": plan, "notes": notes,
        "records": records.num_rows})
    return fitted


def runtime_spec(kind: str) -> ModelSpec:
    """Thresholds and rule pairs a run needs; the comparisons and blocking are in the saved model."""
    meta = store.load_model_meta(kind)
    if meta.get("engine", "cn") == "cn" and kind in SPECS:
        return SPECS[kind]
    return ModelSpec(name=kind, comparisons=list, blocking=(), training_blocks=(), prior_rules=(),
                     threshold=float(meta.get("threshold", get_kind(kind).threshold)),
                     review_low=float(meta.get("review_low", 0.45)))


def current_model(kind: str, records: pa.Table, mappings: list[Mapping]) -> tuple[dict[str, Any], str | None]:
    """The saved model if it was trained on these mappings, else a new one; and why it was retrained."""
    fitted = store.load_model(kind)
    meta = store.load_model_meta(kind)
    if fitted is None:
        return train_records(kind, records, mappings), "no model yet"
    if meta.get("fingerprint") != fingerprint(kind, mappings):
        reason = "mapping or kind changed since the model was trained" if meta else "model has no training record"
        return train_records(kind, records, mappings), reason
    return fitted, None
