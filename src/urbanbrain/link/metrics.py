"""Pairwise precision, recall and F1 of a clustering against known answers.

Pairs are counted per group rather than enumerated, so scoring a million records is a few group-bys:
a cluster of n records holds n(n-1)/2 pairs; the true positives are the pairs inside each
(predicted cluster, true entity) cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from urbanbrain.core import duck


@dataclass(frozen=True)
class Scores:
    """Pair counts and the three scores; `records` is how many records were scored."""

    records: int
    predicted_pairs: int
    true_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"records": self.records, "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "predicted_pairs": self.predicted_pairs, "true_pairs": self.true_pairs,
                "true_positives": self.true_positives}


def pairwise_scores(assignments: pa.Table) -> Scores:
    """Score a table with columns `predicted` and `truth` (one row per record, both non-null).

    >>> t = pa.table({"predicted": ["a", "a", "b"], "truth": ["x", "x", "x"]})
    >>> s = pairwise_scores(t); (s.true_positives, s.predicted_pairs, s.true_pairs)
    (1, 1, 3)
    """
    con = duck.connect()
    try:
        con.register("ub_assign", assignments)
        row = con.execute("""
            WITH cell AS (SELECT predicted, truth, count(*) AS n FROM ub_assign GROUP BY ALL),
                 pred AS (SELECT count(*) AS n FROM ub_assign GROUP BY predicted),
                 tru AS (SELECT count(*) AS n FROM ub_assign GROUP BY truth)
            SELECT (SELECT coalesce(sum(n), 0) FROM cell),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM pred),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM tru),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM cell)""").fetchone()
    finally:
        con.close()
    assert row is not None
    return Scores(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


@dataclass(frozen=True)
class BCubed:
    """B-cubed (per-record) precision and recall of a clustering: every record weighs the same, however
    large its cluster (pairwise scores weigh a cluster of n by n(n-1)/2)."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def b_cubed(assignments: pa.Table) -> BCubed:
    """B³ of a table with `predicted` and `truth` (one row per record).

    >>> b = b_cubed(pa.table({"predicted": ["a", "a", "b"], "truth": ["x", "x", "x"]}))
    >>> (round(b.precision, 3), round(b.recall, 3))
    (1.0, 0.556)
    """
    con = duck.connect()
    try:
        con.register("ub_assign", assignments)
        row = con.execute("""
            WITH cell AS (SELECT predicted, truth, count(*) AS n FROM ub_assign GROUP BY ALL),
                 pred AS (SELECT predicted, sum(n) AS np FROM cell GROUP BY predicted),
                 tru AS (SELECT truth, sum(n) AS nt FROM cell GROUP BY truth)
            SELECT sum(n * n / np) / sum(n), sum(n * n / nt) / sum(n)
            FROM cell JOIN pred USING (predicted) JOIN tru USING (truth)""").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        return BCubed(1.0, 1.0)
    return BCubed(float(row[0]), float(row[1]))
