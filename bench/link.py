"""Link a million person records, and an incremental batch of 10,000 against them; or addresses.

`python bench/link.py [--scales 100000,1000000] [--batch 10000]` (or `bench/run.py link`);
`python bench/link.py --kind address --scales 120000,360000` for addresses at the small demo's scale
(its 121 k address records ran out of memory before the dwelling blocking) and three times that.

Records are made with the demo city's generators (`urbanbrain.demo.people`): residents seen by four
departments (shares 1.0, 0.8, 0.9, 0.6 of the population, with the demo's typo, stale-phone, missing-field
and address-style rates), so N records come from about N/3.3 people. For each scale a child process
(so its peak RSS is its own) reads the features, and measures:

* full: train the model, score every blocked pair (`model.link_all`), cluster and give IDs
  (`ids.assign_full`), build golden records -- the registry of N - batch records;
* incremental: `model.link_batch` of the held-out batch against that registry, and `ids.assign_batch`;
* the comparisons the blocking rules generate (exact, Splink's own count), to show they stay ~linear;
* pairwise precision/recall/F1 of the full run against the generator's truth.

Addresses (`--kind address`): dwellings from `urbanbrain.demo.geo.addresses`, one per 15 records (the
small demo's ratio), each record a uniformly chosen dwelling written in one of the six department styles
of `geo.format_addresses` (two of them name only the house, attached by `link.houses`).

Lake writes are not included (they are Iceberg appends, 0.5 s per million rows here).
Targets: incremental time grows with the registry much less than the full run (ratio of ratios <= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

WORK = Path(__file__).resolve().parent / ".work" / "link"
VIEWS = (("police.hukou.residents", 1.0, {"name_typo": 0.005, "stale_phone": 0.3, "styles": (0,)}),
         ("health.records.patients", 0.8, {"name_typo": 0.02, "stale_phone": 0.2, "styles": (0, 1, 2, 3)}),
         ("hrss.insurance.insured", 0.9, {"name_typo": 0.02, "stale_phone": 0.25, "styles": (1, 2, 4)}),
         ("civil.elderly.elderly", 0.6, {"name_typo": 0.03, "stale_phone": 0.4, "styles": (1, 4)}))


def generate(records: int, path: Path, seed: int = 7) -> None:
    """Features of about `records` person records, with a `truth` column, to `path` (Parquet)."""
    from urbanbrain.demo import geo, people
    from urbanbrain.link.prepare import features_frame

    rng = np.random.default_rng(seed)
    persons = int(records / sum(v[1] for v in VIEWS))
    addresses = geo.addresses(max(1000, persons // 3), rng)
    truth_people = people.persons(persons, addresses, [], rng)
    writer: pq.ParquetWriter | None = None
    for dataset, share, options in VIEWS:
        view = people.person_view(truth_people, addresses, rng, share=share, **options)  # type: ignore[arg-type]
        keys = pc.binary_join_element_wise(view.column("__person_id"), pa.scalar(dataset[:2]), "-")
        raw = pa.table({"record_key": keys, "record_date": pa.nulls(view.num_rows, pa.string()),
                        **{c: pc.cast(view.column(c), pa.string()) for c in ("name", "id_number", "phone", "address",
                                                                             "sex", "birth_date")}})
        frame = features_frame("person", raw, dataset=dataset).append_column("truth", view.column("__person_id"))
        writer = writer or pq.ParquetWriter(path, frame.schema)
        writer.write_table(frame)
    assert writer is not None
    writer.close()


RECORDS_PER_DWELLING = 15


def generate_addresses(records: int, path: Path, seed: int = 7) -> None:
    """Features of `records` address records of about records/15 dwellings, with `truth`, to `path`."""
    from urbanbrain.demo import geo
    from urbanbrain.link.prepare import features_frame

    rng = np.random.default_rng(seed)
    dwellings = geo.addresses(max(100, records // RECORDS_PER_DWELLING), rng)
    seen = dwellings.take(pa.array(rng.integers(0, dwellings.num_rows, records)))
    styles = rng.integers(0, geo.STYLES, records).astype(np.int8)
    raw = pa.table({"record_key": pa.array([str(k) for k in range(records)]),
                    "record_date": pa.nulls(records, pa.string()),
                    "address": pa.array(geo.format_addresses(seen, styles), pa.string())})
    frame = features_frame("address", raw, dataset="bench.addresses")
    pq.write_table(frame.append_column("truth", seen.column("address_id")), path)


def _pairs(spec: Any, scored: pa.Table, batch: pa.Table, registry: pa.Table | None) -> pa.Table:
    """Scored pairs plus the kind's rule pairs (addresses: house-only records join one dwelling)."""
    scored = scored.select(["uid_l", "uid_r", "probability"])
    if spec.rule_pairs is None:
        return scored
    return pa.concat_tables([scored, spec.rule_pairs(batch, registry, spec.threshold)])


REFERENCE_SQL = """
WITH t AS (SELECT i, (i * 7919) % 1000003 AS k, md5(CAST(i AS VARCHAR)) AS s FROM range(2000000) r(i))
SELECT count(*), sum(jaro_winkler_similarity(a.s, b.s)) FROM t a JOIN t b ON a.k = b.k
"""


def reference_seconds() -> float:
    """A fixed DuckDB workload like linking's (a 2 M-row hash join scoring Jaro-Winkler on every pair), timed
    in the same process: on a shared machine the full run is reported as a multiple of it, so figures of
    runs under different loads can be compared."""
    from urbanbrain.core import duck

    con = duck.connect()
    try:
        t = time.perf_counter()
        con.execute(REFERENCE_SQL).fetchall()
        return round(time.perf_counter() - t, 2)
    finally:
        con.close()


def measure(path: Path, batch: int, kind: str = "person") -> dict[str, Any]:
    """The child: full run over all but `batch` records, then the batch incrementally."""
    from urbanbrain.link import model
    from urbanbrain.link.golden import golden_records
    from urbanbrain.link.ids import IdCounter, assign_batch, assign_full
    from urbanbrain.link.metrics import pairwise_scores
    from urbanbrain.link.run import features
    from urbanbrain.link.specs import SPECS

    spec = SPECS[kind]

    data = pq.read_table(path)
    rng = np.random.default_rng(1)
    held = np.zeros(data.num_rows, dtype=bool)
    held[rng.choice(data.num_rows, batch, replace=False)] = True
    registry, new = data.filter(pa.array(~held)), data.filter(pa.array(held))
    out: dict[str, Any] = {"records": data.num_rows, "registry": registry.num_rows, "batch": new.num_rows,
                           "load_before": round(os.getloadavg()[0], 1)}
    before = reference_seconds()
    t = time.perf_counter()
    comparisons = model.count_comparisons(spec, features(registry.drop_columns(["truth"])))
    out["comparisons"] = comparisons
    out["count_seconds"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    fitted = model.train(spec, features(registry.drop_columns(["truth"])))
    out["train_seconds"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    pairs = _pairs(spec, model.link_all(fitted, features(registry.drop_columns(["truth"])), threshold=spec.threshold),
                   registry, None)
    uids = registry.column("unique_id").to_pylist()
    counter = IdCounter(kind, 1)
    assigned = assign_full(uids, pairs.column("uid_l").to_pylist(), pairs.column("uid_r").to_pylist(), {}, counter)
    entity = pa.array([assigned.entity[u] for u in uids], pa.string())
    golden = golden_records(kind, registry.drop_columns(["truth"]).append_column("entity_id", entity))
    out["full_seconds"] = round(time.perf_counter() - t, 2)
    out["entities"] = golden.num_rows
    out["full_f1"] = pairwise_scores(pa.table({"predicted": entity, "truth": registry.column("truth")})).as_dict()
    reg = registry.drop_columns(["truth"]).append_column("entity_id", entity)
    entity_of = dict(zip(uids, entity.to_pylist(), strict=True))
    sizes: dict[str, int] = {}
    for e in entity_of.values():
        sizes[e] = sizes.get(e, 0) + 1
    t = time.perf_counter()
    batch_pairs = _pairs(spec, model.link_batch(fitted, features(new.drop_columns(["truth"])), features(reg),
                                                threshold=spec.threshold), new, registry)
    left, right = batch_pairs.column("uid_l").to_pylist(), batch_pairs.column("uid_r").to_pylist()
    touched = {u: entity_of[u] for u in (*left, *right) if u in entity_of}
    result = assign_batch(new.column("unique_id").to_pylist(), left, right, touched, sizes, counter,
                          lambda ids: {e: [u for u, x in entity_of.items() if x == e] for e in set(ids)})
    seconds = time.perf_counter() - t
    out["incremental_seconds"] = round(seconds, 3)
    out["incremental_records_per_s"] = round(new.num_rows / seconds)
    got = [result.entity[u] for u in new.column("unique_id").to_pylist()]
    both = pa.table({"predicted": pa.array([*entity.to_pylist(), *got]),
                     "truth": pa.concat_arrays([registry.column("truth").combine_chunks(),
                                                new.column("truth").combine_chunks()])})
    out["after_batch_f1"] = pairwise_scores(both).as_dict()["f1"]
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["reference_seconds"] = round((before + reference_seconds()) / 2, 2)  # before and after: the load moves
    out["full_per_reference"] = round(out["full_seconds"] / out["reference_seconds"], 2)
    out["incremental_per_reference"] = round(out["incremental_seconds"] / out["reference_seconds"], 3)
    out["load_after"] = round(os.getloadavg()[0], 1)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="person", choices=("person", "address"))
    parser.add_argument("--scales", default=None, help="record counts, comma-separated "
                        "(default 100000,1000000 people; 120000,360000 addresses)")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child), args.batch, args.kind)))
        return {}
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    scales = args.scales or ("100000,1000000" if args.kind == "person" else "120000,360000")
    for scale in [int(s) for s in scales.split(",")]:
        path = WORK / (f"persons-{scale}.parquet" if args.kind == "person" else f"addresses-{scale}.parquet")
        t = time.perf_counter()
        if not path.exists():
            (generate if args.kind == "person" else generate_addresses)(scale, path)
        gen = round(time.perf_counter() - t, 1)
        child = subprocess.run([sys.executable, __file__, "--child", str(path), "--batch", str(args.batch),
                                "--kind", args.kind],
                               check=True, capture_output=True, text=True)
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row["generate_and_features_seconds"] = gen
        results[str(scale)] = row
        print(json.dumps({"scale": scale, **row}), flush=True)
    scales = sorted(results, key=int)
    targets: dict[str, Any] = {}
    if len(scales) >= 2:
        small, large = results[scales[0]], results[scales[-1]]
        full_ratio = large["full_seconds"] / small["full_seconds"]
        incr_ratio = large["incremental_seconds"] / small["incremental_seconds"]
        targets = {"records_ratio": round(large["registry"] / small["registry"], 1),
                   "full_time_ratio": round(full_ratio, 2), "incremental_time_ratio": round(incr_ratio, 2),
                   "comparisons_ratio": round(large["comparisons"] / small["comparisons"], 2),
                   "incremental_flat_met": incr_ratio <= 0.5 * full_ratio}
    summary = {"results": results, "targets": targets}
    name = "link.json" if args.kind == "person" else f"link-{args.kind}.json"
    (WORK.parent / name).write_text(json.dumps(summary, indent=1))
    print(json.dumps(targets))
    return summary


if __name__ == "__main__":
    main()
