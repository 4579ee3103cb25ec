"""Full and incremental runs: source records in, base registries out.

`run_link(kind)` reads the mapped datasets, compares their records with the last run's by a hash of
the mapped values, and then

* full (first run, or `--full`): links all records, clusters them, and gives clusters the IDs of the
  previous clustering (`ids.assign_full`);
* incremental (default afterwards): links only new and changed records against the registry
  (`model.link_batch`) and within themselves, attaches them to existing entities or creates new ones
  (`ids.assign_batch`), drops deleted records, and rewrites only the rows and golden records touched.

Steward decisions from the review queue are applied to the scored pairs first: an approved pair is a
link whatever its score, a rejected one never is (a rejection that should split an existing entity
takes effect on the next full run, which re-clusters).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.ids import new_id
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.link import model, partitioned, store
from urbanbrain.link.clusters import one_to_one
from urbanbrain.link.golden import golden_records
from urbanbrain.link.ids import Assignment, Event, IdCounter, assign_batch, assign_full, moves
from urbanbrain.link.kinds import get_kind
from urbanbrain.link.mapping import check_kind, load_mappings, propose_all, save_mappings
from urbanbrain.link.prepare import BASE, prepare
from urbanbrain.link.review import decided_pairs, pair_id, review_rows
from urbanbrain.link.training import current_model, features, runtime_spec, sides, train_records

META = [f.name for f in BASE]
__all__ = ["RunSummary", "features", "run_link", "train_kind"]


@dataclass
class RunSummary:
    kind: str
    mode: str
    run_id: str
    records: int = 0
    entities: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    links: int = 0
    queued_for_review: int = 0
    events: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    retrained: str | None = None  # why the model was (re)trained before this run, if it was

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def ensure_mappings(kind: str) -> list[Any]:
    """The steward's mappings; on first use, proposals from column names are saved for review."""
    mappings = load_mappings(check_kind(kind))
    if not mappings:
        proposed = propose_all(kind)
        if not proposed:
            raise ValidationError(f"no dataset in the lake looks like it holds {kind} records",
                                  hint=f"map one with `urbanbrain link map {kind} DATASET --column field=column`")
        save_mappings([*load_mappings(), *proposed])
        mappings = proposed
    return mappings


def train_kind(kind: str, records: pa.Table | None = None, *, by: Principal | None = None) -> dict[str, Any]:
    """Fit and save the kind's model on the current source records."""
    authorize("link.run", acting(by), store.DEPARTMENT[0])
    mappings = ensure_mappings(kind)
    records = records if records is not None else prepare(kind, mappings)
    return train_records(kind, records, mappings)


def _decide(pairs: pa.Table, decisions: dict[str, str], touched: set[str] | None = None) -> pa.Table:
    """Scores overridden by decisions: approved -> 1.0 (added if blocking missed it), rejected -> 0.0."""
    if not decisions:
        return pairs
    ids = [pair_id(a, b) for a, b in zip(pairs.column("uid_l").to_pylist(), pairs.column("uid_r").to_pylist(),
                                         strict=True)]
    prob = [1.0 if decisions.get(i) == "approved" else 0.0 if decisions.get(i) == "rejected" else p
            for i, p in zip(ids, pairs.column("probability").to_pylist(), strict=True)]
    seen = set(ids)
    extra = [tuple(i.split("~", 1)) for i, d in decisions.items() if d == "approved" and i not in seen]
    extra = [e for e in extra if touched is None or e[0] in touched or e[1] in touched]
    out = pa.table({"uid_l": pairs.column("uid_l"), "uid_r": pairs.column("uid_r"),
                    "probability": pa.array(prob, pa.float64())})
    if extra:
        out = pa.concat_tables([out, pa.table({"uid_l": [e[0] for e in extra], "uid_r": [e[1] for e in extra],
                                               "probability": pa.array([1.0] * len(extra), pa.float64())})])
    return out


def _one_to_one(links: pa.Table, raw: pa.Table, decisions: dict[str, str]) -> pa.Table:
    """The links a greedy one-to-one assignment keeps, strongest match weight first (approved pairs first)."""
    weight = {(a, b): w for a, b, w in zip(raw.column("uid_l").to_pylist(), raw.column("uid_r").to_pylist(),
                                           raw.column("weight").to_pylist(), strict=True)}
    left, right = links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist()
    approved = {(a, b) for a, b in zip(left, right, strict=True) if decisions.get(pair_id(a, b)) == "approved"}
    keep = one_to_one(left, right, [weight.get((a, b), 0.0) for a, b in zip(left, right, strict=True)], approved)
    return links.take(pa.array(keep, pa.int64()))


def _best_probability(links: pa.Table) -> dict[str, float]:
    best: dict[str, float] = {}
    for a, b, p in zip(links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist(),
                       links.column("probability").to_pylist(), strict=True):
        for u in (a, b):
            if p > best.get(u, -1.0):
                best[u] = p
    return best


def _with_entities(records: pa.Table, entity: dict[str, str], prob: dict[str, float]) -> pa.Table:
    uids = records.column("unique_id").to_pylist()
    base = records.drop_columns([c for c in ("entity_id", "match_probability") if c in records.column_names])
    return base.append_column("entity_id", pa.array([entity[u] for u in uids], pa.string())).append_column(
        "match_probability", pa.array([prob.get(u) for u in uids], pa.float64()))


def _xref(records: pa.Table, run_id: str) -> pa.Table:
    n = records.num_rows
    return pa.table({"unique_id": records.column("unique_id"), "entity_id": records.column("entity_id"),
                     "source_dataset": records.column("source_dataset"), "record_key": records.column("record_key"),
                     "match_probability": records.column("match_probability"),
                     "run_id": pa.array([run_id] * n, pa.string())}, schema=store.XREF)


def _events(events: Iterable[Event], run_id: str) -> pa.Table:
    rows = list(events)
    at = utcnow().isoformat()
    return pa.table({"run_id": [run_id] * len(rows), "at": [at] * len(rows), "event": [e.event for e in rows],
                     "entity_id": [e.entity_id for e in rows], "other_entity_id": [e.other_entity_id for e in rows],
                     "unique_id": [e.unique_id for e in rows], "records": [e.records for e in rows]},
                    schema=store.EVENTS)


def _counter(kind: str, existing: pa.Table | None) -> IdCounter:
    state = store.load_state(kind)
    top = 0
    if existing is not None and existing.num_rows:
        top = max(IdCounter.number(str(e)) for e in pc.unique(existing.column("entity_id")).to_pylist())
    return IdCounter(kind, max(int(state.get("next_id", 1)), top + 1))


def _filter(table: pa.Table, column: str, values: set[str], keep: bool) -> pa.Table:
    mask = pc.is_in(table.column(column), pa.array(sorted(values), pa.string()))
    return table.filter(mask if keep else pc.invert(mask))


def run_link(kind: str, *, full: bool = False, by: Principal | None = None) -> RunSummary:
    """Link `kind`'s mapped records into its base registry; see the module docstring."""
    by = acting(by)
    authorize("link.run", by, store.DEPARTMENT[0])
    clock = time.perf_counter()
    check_kind(kind)
    summary = RunSummary(kind, "full", new_id("link"))
    mappings = ensure_mappings(kind)
    current = prepare(kind, mappings)
    summary.seconds["prepare"] = round(time.perf_counter() - clock, 2)
    fitted, summary.retrained = current_model(kind, current, mappings)
    spec = runtime_spec(kind)
    link_only = get_kind(kind).mode == "link_only"
    full = full or link_only  # a link-only registry reconciles two sources: every run compares them anew
    existing = store.read(kind, "records")
    review = store.read(kind, "review")
    decisions = decided_pairs(review)
    counter = _counter(kind, existing)
    summary.records = current.num_rows
    if full or existing is None or existing.num_rows == 0:
        out, pairs, assignment, replaced = _full(kind, spec, fitted, current, existing, decisions, counter, summary)
    else:
        summary.mode = "incremental"
        out, pairs, assignment, replaced = _incremental(spec, fitted, current, existing, decisions, counter,
                                                        summary)
    summary.seconds["link"] = round(time.perf_counter() - clock - sum(summary.seconds.values()), 2)
    _persist(kind, spec, out, pairs, assignment, replaced, review, existing, summary)
    store.save_state(kind, {"next_id": counter.next_number, "last_run": summary.run_id, "mode": summary.mode})
    summary.seconds["total"] = round(time.perf_counter() - clock, 2)
    record(by, "link.run", f"registry:{kind}", {"run": summary.run_id, "mode": summary.mode,
                                                "records": summary.records})
    return summary


def _full(kind: str, spec: model.ModelSpec, fitted: dict[str, Any], current: pa.Table, existing: pa.Table | None,
          decisions: dict[str, str], counter: IdCounter, summary: RunSummary
          ) -> tuple[pa.Table, pa.Table, Assignment, set[str] | None]:
    previous: dict[str, str] = {}
    if existing is not None:
        previous = dict(zip(existing.column("unique_id").to_pylist(), existing.column("entity_id").to_pylist(),
                            strict=True))
    left, right = sides(kind, current)
    raw = partitioned.link_all(fitted, spec.blocking, features(left),
                               other=features(right) if right is not None else None, threshold=spec.review_low)
    scored = raw.select(["uid_l", "uid_r", "probability"])
    if spec.rule_pairs is not None:
        scored = pa.concat_tables([scored, spec.rule_pairs(current, None, spec.threshold)])
    pairs = _decide(scored, decisions)
    links = pairs.filter(pc.greater_equal(pairs.column("probability"), spec.threshold))
    if right is not None:  # link-only: each record has at most one partner in the other source
        links = _one_to_one(links, raw, decisions)
    uids = current.column("unique_id").to_pylist()
    assignment = assign_full(uids, links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist(),
                             previous, counter)
    now = set(uids)
    gone = [u for u in previous if u not in now]
    assignment.events += [Event("removed", previous[u], unique_id=u) for u in gone]
    summary.new = sum(1 for u in uids if u not in previous)
    summary.deleted = len(gone)
    summary.links = links.num_rows
    out = _with_entities(current, assignment.entity, _best_probability(links))
    return out, pairs, assignment, None


def _incremental(spec: model.ModelSpec, fitted: dict[str, Any], current: pa.Table, existing: pa.Table,
                 decisions: dict[str, str], counter: IdCounter, summary: RunSummary
                 ) -> tuple[pa.Table, pa.Table, Assignment, set[str] | None]:
    old_hash = dict(zip(existing.column("unique_id").to_pylist(), existing.column("record_hash").to_pylist(),
                        strict=True))
    old_entity = dict(zip(existing.column("unique_id").to_pylist(), existing.column("entity_id").to_pylist(),
                          strict=True))
    now_hash = dict(zip(current.column("unique_id").to_pylist(), current.column("record_hash").to_pylist(),
                        strict=True))
    new = {u for u in now_hash if u not in old_hash}
    changed = {u for u, h in now_hash.items() if u in old_hash and old_hash[u] != h}
    deleted = {u for u in old_hash if u not in now_hash}
    summary.new, summary.changed, summary.deleted = len(new), len(changed), len(deleted)
    batch = _filter(current, "unique_id", new | changed, keep=True)
    rest = _filter(existing, "unique_id", changed | deleted, keep=False)
    return _attach(spec, fitted, batch, rest, old_entity, deleted, decisions, counter, summary)


def _attach(spec: model.ModelSpec, fitted: dict[str, Any], batch: pa.Table, rest: pa.Table,
            old_entity: dict[str, str], deleted: set[str], decisions: dict[str, str], counter: IdCounter,
            summary: RunSummary) -> tuple[pa.Table, pa.Table, Assignment, set[str] | None]:
    """Link `batch` against the registry `rest` and give it (and any merged entities) IDs."""
    batch_ids = batch.column("unique_id").to_pylist()
    pending = {u for u, d in decisions.items() if d == "approved"}
    if batch.num_rows:
        pairs = model.link_batch(fitted, features(batch), features(rest), threshold=spec.review_low).select(
            ["uid_l", "uid_r", "probability"])
        if spec.rule_pairs is not None:
            pairs = pa.concat_tables([pairs, spec.rule_pairs(batch, rest, spec.threshold)])
    else:
        pairs = pa.table({"uid_l": pa.array([], pa.string()), "uid_r": pa.array([], pa.string()),
                          "probability": pa.array([], pa.float64())})
    rest_ids = set(rest.column("unique_id").to_pylist())
    pairs = _decide(pairs.select(["uid_l", "uid_r", "probability"]), decisions,
                    touched=set(batch_ids) | rest_ids if pending else None)
    links = pairs.filter(pc.greater_equal(pairs.column("probability"), spec.threshold))
    entity_of = dict(zip(rest.column("unique_id").to_pylist(), rest.column("entity_id").to_pylist(), strict=True))
    sizes = Counter(entity_of.values())

    def members_of(ids: Iterable[str]) -> dict[str, list[str]]:
        wanted = set(ids)
        out: dict[str, list[str]] = {}
        for uid, eid in entity_of.items():
            if eid in wanted:
                out.setdefault(eid, []).append(uid)
        return out

    left, right = links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist()
    known = set(batch_ids)
    keep = [(a, b) for a, b in zip(left, right, strict=True) if (a in known or a in entity_of)
            and (b in known or b in entity_of)]
    registry = {u: entity_of[u] for pair in keep for u in pair if u in entity_of}
    assignment = assign_batch(batch_ids, [a for a, _ in keep], [b for _, b in keep], registry, sizes, counter,
                              members_of)
    moved = {u for u in assignment.entity if u in entity_of}
    before = {u: old_entity[u] for u in assignment.entity if u in old_entity and u not in moved}
    alive = set(entity_of.values()) | set(assignment.entity.values())
    merged_from = {e.other_entity_id for e in assignment.events if e.event == "merged"}
    assignment.events += moves(before, assignment.entity, alive - merged_from)
    assignment.events += [Event("removed", old_entity[u], unique_id=u) for u in sorted(deleted)]
    left_entities = {old_entity[u] for u in deleted | set(before)} - alive
    assignment.events += [Event("retired", e) for e in sorted(left_entities)]
    summary.links = len(keep)
    prob = _best_probability(links)
    moved_rows = _filter(rest, "unique_id", moved, keep=True)
    moved_prob = dict(zip(moved_rows.column("unique_id").to_pylist(),
                          moved_rows.column("match_probability").to_pylist(), strict=True))
    out = _with_entities(batch, assignment.entity, prob)
    if moved_rows.num_rows:
        moved_out = _with_entities(moved_rows, assignment.entity, moved_prob)
        out = pa.concat_tables([out, moved_out.select(out.column_names).cast(out.schema)])
    replaced = set(batch_ids) | moved | deleted
    return out, pairs, assignment, replaced


def _persist(kind: str, spec: model.ModelSpec, out: pa.Table, pairs: pa.Table, assignment: Assignment,
             replaced: set[str] | None, review: pa.Table | None, existing: pa.Table | None,
             summary: RunSummary) -> None:
    """Write records, xref, golden, events and new review pairs (full: replace; incremental: touched rows)."""
    clock = time.perf_counter()
    run_id = summary.run_id
    if replaced is None:
        store.write(kind, "records", out)
        store.write(kind, "xref", _xref(out, run_id))
        golden = golden_records(kind, out)
        store.write(kind, "golden", golden)
        summary.entities = golden.num_rows
    else:
        store.write(kind, "records", out, replace_keys=replaced)
        store.write(kind, "xref", _xref(out, run_id), replace_keys=replaced)
        assert existing is not None
        old = {e for e in _filter(existing, "unique_id", replaced, keep=True).column("entity_id").to_pylist()}
        touched = old | set(out.column("entity_id").to_pylist())
        rows = pa.concat_tables([
            _filter(_filter(existing, "entity_id", touched, keep=True), "unique_id", replaced, keep=False)
            .select(out.column_names).cast(out.schema), out])
        golden = golden_records(kind, rows)
        store.write(kind, "golden", golden, replace_keys=touched)
        total = store.read(kind, "golden", ["entity_id"])
        summary.entities = total.num_rows if total is not None else golden.num_rows
    store.append(kind, "events", _events(assignment.events, run_id))
    summary.events = dict(Counter(e.event for e in assignment.events))
    entity = dict(zip(out.column("unique_id").to_pylist(), out.column("entity_id").to_pylist(), strict=True))
    if existing is not None:
        for u, e in zip(existing.column("unique_id").to_pylist(), existing.column("entity_id").to_pylist(),
                        strict=True):
            entity.setdefault(u, e)
    queue = review_rows(pairs, spec.review_low, spec.threshold, entity, review, run_id)
    summary.queued_for_review = queue.num_rows
    store.append(kind, "review", queue)
    summary.seconds["write"] = round(time.perf_counter() - clock, 2)
