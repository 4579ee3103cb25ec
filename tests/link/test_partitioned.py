"""Linking partitioned by blocking key finds exactly the pairs (with the same probabilities and weights)
and so the same clusters as the one-piece Splink run: FEBRL 3 de-duplicated and FEBRL 4a against 4b
(link only). On a Ray cluster the partitions are Ray tasks: tests/cluster/test_ray_link.py."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from urbanbrain.link import febrl, model, partitioned
from urbanbrain.link.clusters import connected_components


def pairs_of(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in ("uid_l", "uid_r", "probability", "weight")),
                      strict=True))


def clusters_of(table: pa.Table, ids: list[str], threshold: float) -> set[frozenset[str]]:
    links = table.filter(pa.compute.greater_equal(table.column("probability"), threshold))
    labels = connected_components(ids, links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist())
    groups: dict[int, set[str]] = {}
    for uid, label in labels.items():
        groups.setdefault(label, set()).add(str(uid))
    return {frozenset(g) for g in groups.values()}


def febrl3(limit: int) -> tuple[dict[str, Any], pa.Table]:
    records = febrl.load("dataset3.csv", limit).drop_columns(["truth"])
    return model.train(febrl.FEBRL, records), records


def test_partitioned_dedupe_equals_the_one_piece_run() -> None:
    fitted, records = febrl3(500)
    whole = model.link_all(fitted, records, threshold=0.3)
    parts = partitioned.link_all(fitted, febrl.FEBRL.blocking, records, threshold=0.3, partitions=4)
    assert whole.num_rows > 150
    assert pairs_of(parts) == pairs_of(whole)
    ids = records.column("unique_id").to_pylist()
    t = febrl.FEBRL.threshold
    assert clusters_of(parts, ids, t) == clusters_of(whole, ids, t)
    # a model whose saved rules are not the blocking keys given stays in one piece (keys unknown)
    other_rules = (("surname",),) * len(febrl.FEBRL.blocking)
    assert not partitioned._same_rules(fitted[partitioned.RULES], other_rules)
    assert pairs_of(partitioned.link_all(fitted, other_rules, records, threshold=0.3, partitions=4)) == pairs_of(whole)


@pytest.mark.slow  # a second Splink training: kept out of the quick suite's time
def test_partitioned_link_only_equals_the_one_piece_run() -> None:
    left = febrl.load("dataset4a.csv", 250).drop_columns(["truth"])
    right = febrl.load("dataset4b.csv", 250).drop_columns(["truth"])
    fitted = model.train(febrl.FEBRL, left, link_type="link_only", other=right)
    whole = model.link_all(fitted, left, other=right, threshold=0.3)
    parts = partitioned.link_all(fitted, febrl.FEBRL.blocking, left, other=right, threshold=0.3, partitions=3)
    assert whole.num_rows > 30 and pairs_of(parts) == pairs_of(whole)
