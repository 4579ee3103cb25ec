"""Score a registry against a labelled file for any data: pairs or clusters, pairwise and B³ metrics.

`urbanbrain link evaluate KIND --truth FILE` reads a CSV or Parquet file of either
* clusters -- a record column and a `cluster` (or `cluster_id`, `entity`, `entity_id`, `truth`) column;
* pairs    -- two record columns, one true match per row (e.g. `fodors_id,zagats_id`);
* labelled pairs -- two record columns and a `label` (or `gold`, `match`, `is_match`) column of 1 / 0:
  a labelled sample of candidate pairs, both matches and non-matches (py-entitymatching's DBLP-ACM labels).
  Only the labelled pairs are scored: precision = labelled matches linked / labelled pairs linked, recall =
  labelled matches linked / labelled matches; B³ over the records named, with the matches' components as
  the true clusters.

A record is named by its registry unique ID (`dataset|key`) or by its bare record key; `--left DATASET`
/ `--right DATASET` say which dataset a pair file's first / second column keys belong to (keys of two
datasets may collide). Pair files are closed transitively; records of the datasets involved that no
pair names are singletons. Cluster files score only the records they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core import duck
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.link.clusters import connected_components
from urbanbrain.link.metrics import BCubed, Scores, b_cubed, pairwise_scores

CLUSTER_COLUMNS = ("cluster", "cluster_id", "entity", "entity_id", "truth", "true_id")
LABEL_COLUMNS = ("label", "gold", "match", "is_match")


@dataclass(frozen=True)
class Evaluation:
    pairwise: Scores
    bcubed: BCubed
    records: int
    format: str

    def as_dict(self) -> dict[str, Any]:
        p = self.pairwise.as_dict()
        b = self.bcubed.as_dict()
        return {"format": self.format, "records": self.records, "precision": p["precision"], "recall": p["recall"],
                "f1": p["f1"], "b3_precision": b["precision"], "b3_recall": b["recall"], "b3_f1": b["f1"],
                "predicted_pairs": p["predicted_pairs"], "true_pairs": p["true_pairs"]}


def read_truth(path: Path) -> pa.Table:
    if not path.exists():
        raise NotFoundError(f"no truth file at {path}", hint="give a CSV or Parquet file of pairs or clusters")
    con = duck.connect()
    try:
        reader = "read_parquet(?)" if path.suffix.lower() == ".parquet" else \
            "read_csv(?, all_varchar = true, header = true)"
        table = con.execute(f"SELECT * FROM {reader}", [str(path)]).fetch_arrow_table()
    finally:
        con.close()
    if table.num_columns < 2:
        raise ValidationError(f"{path} has {table.num_columns} column(s)",
                              hint="a pairs file has two record columns; a clusters file a record and a cluster column")
    return table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))


class _Resolver:
    """Truth record names -> registry unique IDs."""

    def __init__(self, xref: pa.Table) -> None:
        self.uids = set(xref.column("unique_id").to_pylist())
        self.by_key: dict[tuple[str | None, str], str] = {}
        ambiguous: set[str] = set()
        for uid, ds, key in zip(xref.column("unique_id").to_pylist(), xref.column("source_dataset").to_pylist(),
                                xref.column("record_key").to_pylist(), strict=True):
            self.by_key[(ds, str(key))] = uid
            if (None, str(key)) in self.by_key and self.by_key[(None, str(key))] != uid:
                ambiguous.add(str(key))
            self.by_key[(None, str(key))] = uid
        self.ambiguous = ambiguous

    def __call__(self, name: str | None, dataset: str | None = None) -> str | None:
        if name is None:
            return None
        name = name.strip()
        if name in self.uids:
            return name
        if dataset is None and name in self.ambiguous:
            raise ValidationError(f"record key {name!r} exists in several datasets",
                                  hint="name records as dataset|key, or say --left/--right DATASET")
        return self.by_key.get((dataset, name))


def evaluate(xref: pa.Table, truth: pa.Table, *, left: str | None = None, right: str | None = None) -> Evaluation:
    """Score the registry cross-reference `xref` (unique_id, entity_id, source_dataset, record_key)."""
    resolve = _Resolver(xref)
    entity = dict(zip(xref.column("unique_id").to_pylist(), xref.column("entity_id").to_pylist(), strict=True))
    names = truth.column_names
    cluster_col = next((c for c in names if c.lower() in CLUSTER_COLUMNS), None)
    label_col = next((c for c in names if c.lower() in LABEL_COLUMNS), None)
    if label_col is not None and cluster_col is None:
        return _labelled(resolve, entity, truth, label_col, left, right)
    if cluster_col is not None:
        record_col = next(c for c in names if c != cluster_col)
        truth_of: dict[str, str] = {}
        for rec, cl in zip(truth.column(record_col).to_pylist(), truth.column(cluster_col).to_pylist(), strict=True):
            uid = resolve(rec, left)
            if uid is not None and cl is not None:
                truth_of[uid] = str(cl)
        fmt = "clusters"
    else:
        a_col, b_col = names[0], names[1]
        pairs = [(resolve(a, left), resolve(b, right)) for a, b in
                 zip(truth.column(a_col).to_pylist(), truth.column(b_col).to_pylist(), strict=True)]
        found = [(a, b) for a, b in pairs if a is not None and b is not None]
        datasets = {left, right} - {None} or {u.split("|", 1)[0] for pair in found for u in pair}
        universe = [u for u, ds in zip(xref.column("unique_id").to_pylist(), xref.column("source_dataset").to_pylist(),
                                       strict=True) if ds in datasets]
        comp = connected_components(universe, [a for a, _ in found], [b for _, b in found])
        truth_of = {u: str(comp[u]) for u in universe}
        fmt = f"pairs ({len(found)} of {len(pairs)} found in the registry)"
    if not truth_of:
        raise ValidationError("no record of the truth file is in the registry",
                              hint="check the record names (dataset|key or key) and --left/--right")
    uids = sorted(truth_of)
    table = pa.table({"predicted": [entity[u] for u in uids], "truth": [truth_of[u] for u in uids]})
    return Evaluation(pairwise_scores(table), b_cubed(table), len(uids), fmt)


def _labelled(resolve: _Resolver, entity: dict[str, str], truth: pa.Table, label_col: str, left: str | None,
              right: str | None) -> Evaluation:
    a_col, b_col = [c for c in truth.column_names if c != label_col][:2]
    rows = [(resolve(a, left), resolve(b, right), str(lab).strip().lower() in ("1", "true", "yes", "1.0"))
            for a, b, lab in zip(truth.column(a_col).to_pylist(), truth.column(b_col).to_pylist(),
                                 truth.column(label_col).to_pylist(), strict=True)]
    found = [(a, b, m) for a, b, m in rows if a is not None and b is not None]
    if not found:
        raise ValidationError("no labelled pair of the truth file is in the registry",
                              hint="check the record names (dataset|key or key) and --left/--right")
    linked = [m for a, b, m in found if entity[a] == entity[b]]
    matches = sum(1 for _, _, m in found if m)
    uids = sorted({u for a, b, _ in found for u in (a, b)})
    comp = connected_components(uids, [a for a, _, m in found if m], [b for _, b, m in found if m])
    table = pa.table({"predicted": [entity[u] for u in uids], "truth": [str(comp[u]) for u in uids]})
    scores = Scores(len(uids), len(linked), matches, sum(1 for m in linked if m))
    return Evaluation(scores, b_cubed(table), len(uids),
                      f"labelled pairs ({len(found)} of {len(rows)} found, {matches} matches)")


def evaluate_file(kind: str, path: Path, *, left: str | None = None, right: str | None = None) -> Evaluation:
    from urbanbrain.link import store

    xref = store.read(kind, "xref")
    if xref is None or xref.num_rows == 0:
        raise NotFoundError(f"registry.{kind} has no records yet", hint=f"run `urbanbrain link run {kind}` first")
    for name, ds in (("--left", left), ("--right", right)):
        if ds is not None and not pc.any(pc.equal(xref.column("source_dataset"), ds)).as_py():
            raise NotFoundError(f"{name} {ds}: no record of that dataset is in registry.{kind}",
                                hint="name a dataset mapped to this kind")
    return evaluate(xref, read_truth(path), left=left, right=right)
