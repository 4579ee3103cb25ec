"""Score the base registries against the demo city's ground truth: pairwise precision, recall, F1.

The demo writes, for every source record, the real entity behind it (`demo/truth/<kind>_links.parquet`,
see `urbanbrain.demo.truth`); the registry's cross-reference maps the same (dataset, record key) to an
entity ID. Only records present in both are scored: a record the mapping leaves out (or, for the
address kind, a record with no address) is not a linking error.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import NotFoundError
from urbanbrain.core.settings import get_settings
from urbanbrain.link.metrics import Scores, pairwise_scores

TRUTH_FILES = {"person": "person_links.parquet", "organisation": "enterprise_links.parquet",
               "address": "address_links.parquet"}


def truth_path(kind: str, home: Path | None = None) -> Path:
    path = (home or get_settings().home_dir) / "demo" / "truth" / TRUTH_FILES[kind]
    if not path.exists():
        raise NotFoundError(f"no ground truth for {kind} at {path}",
                            hint="evaluation needs the demo city: run `urbanbrain demo --scale tiny` first")
    return path


def score(kind: str, xref: pa.Table, home: Path | None = None) -> Scores:
    """`xref` has source_dataset, record_key and entity_id; truth is read from the demo folder."""
    con = duck.connect()
    try:
        con.register("ub_xref", xref.select(["source_dataset", "record_key", "entity_id"]))
        joined = con.execute(
            "SELECT x.entity_id AS predicted, t.entity_id AS truth FROM ub_xref x "
            "JOIN read_parquet(?) t ON t.dataset = x.source_dataset AND t.record_key = x.record_key",
            [str(truth_path(kind, home))]).fetch_arrow_table()
    finally:
        con.close()
    return pairwise_scores(joined)
