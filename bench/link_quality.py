"""One ID's default path against the best hand-configured Splink model, on real labelled data.

`python bench/link_quality.py` (or `bench/run.py link_quality`). Data: the Fodor's and Zagat restaurant
guides (`tests/data/restaurants`, 533 + 331 listings, 112 labelled true pairs; real listings, BSD-3).

* **Measured (default path).** A fresh `URBANBRAIN_HOME`; the `urbanbrain` command itself, as a new user
  runs it: `dept add`, `system add` (files), `sync`, `link map organisation DATASET` for both guides
  (the proposal taken as it is), `link kind mode organisation link_only`, `link run`,
  `link evaluate --truth`. Pairwise and B³ F1 of the registry.
* **Reference (hand-configured Splink 5).** The same CSV files cleaned in SQL (case, punctuation, phone
  digits), Splink comparisons chosen by hand (Jaro-Winkler levels on name and address, exact phone and
  city, optionally the cuisine label), blocking on phone, name and address prefixes, u by sampling, EM
  on phone and a name prefix; link-only. Each variant is scored at every threshold of a grid and the
  best F1 (an oracle threshold, so the reference is as strong as a hand-tuner with the labels could make
  it) is reported, with its F1 at 0.9.
* **Target.** default-path F1 >= best hand-configured F1 - 0.01.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "restaurants"
FODORS, ZAGAT = "guides.fodors.fodors", "guides.zagat.zagats"
TRUTH = DATA / "matches_fodors_zagats.csv"


def _cli(env: dict[str, str], *args: str) -> str:
    exe = Path(sys.executable).parent / "urbanbrain"
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"urbanbrain {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    return dict(data[0] if isinstance(data, list) else data)


def default_path(work: Path) -> dict[str, Any]:
    """The CLI end to end in a fresh home; the mapping is whatever `link map` proposes."""
    home = work / "home"
    files = work / "files"
    files.mkdir(parents=True)
    for name in ("fodors", "zagats"):
        shutil.copy(DATA / f"{name}.csv", files / f"{name}.csv")
    env = {**os.environ, "URBANBRAIN_HOME": str(home), "URBANBRAIN_FILE_ROOTS": str(files)}
    env.pop("URBANBRAIN_DATABASE_URL", None)
    started = time.perf_counter()
    _cli(env, "dept", "add", "Restaurant guides", "--code", "guides")
    for system, name in (("fodors", "fodors"), ("zagat", "zagats")):
        _cli(env, "system", "add", system, "--dept", "guides", "--kind", "files", "--path", str(files / f"{name}.csv"))
        _cli(env, "sync", system)
    proposals = [_cli(env, "link", "map", "organisation", ds) for ds in (FODORS, ZAGAT)]
    _cli(env, "link", "kind", "mode", "organisation", "link_only")
    run = _json(_cli(env, "link", "run", "organisation", "--format", "json"))
    scores = _json(_cli(env, "link", "evaluate", "organisation", "--truth", str(TRUTH), "--left", FODORS,
                        "--right", ZAGAT, "--format", "json"))
    mapping = json.loads((home / "link" / "mappings.json").read_text(encoding="utf-8"))
    return {"seconds": round(time.perf_counter() - started, 1), "records": run.get("records"),
            "mappings": {m["dataset"]: m["columns"] for m in mapping}, "proposals": proposals,
            "f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"], "b3_f1": scores["b3_f1"]}


BIB = DATA.parent / "bibliographic"
DBLP, ACM = "library.dblp.dblp", "library.acm.acm"


def bibliographic_default(work: Path) -> dict[str, Any]:
    """A steward's kind `publication` (title text, authors name, venue category, year number) mapped by
    `link map` as proposed, link-only, scored on the labelled pairs."""
    home, files = work / "home", work / "files"
    files.mkdir(parents=True)
    for name in ("dblp", "acm"):
        shutil.copy(BIB / f"{name}.csv", files / f"{name}.csv")
    env = {**os.environ, "URBANBRAIN_HOME": str(home), "URBANBRAIN_FILE_ROOTS": str(files)}
    env.pop("URBANBRAIN_DATABASE_URL", None)
    started = time.perf_counter()
    _cli(env, "dept", "add", "Libraries", "--code", "library")
    for name in ("dblp", "acm"):
        _cli(env, "system", "add", name, "--dept", "library", "--kind", "files", "--path", str(files / f"{name}.csv"))
        _cli(env, "sync", name)
    _cli(env, "link", "kind", "define", "publication", "--field", "title=text", "--field", "authors=name",
         "--field", "venue=category", "--field", "year=number", "--mode", "link_only")
    for ds in (DBLP, ACM):
        _cli(env, "link", "map", "publication", ds)
    run = _json(_cli(env, "link", "run", "publication", "--format", "json"))
    scores = _json(_cli(env, "link", "evaluate", "publication", "--truth", str(BIB / "labels_dblp_acm.csv"),
                        "--left", DBLP, "--right", ACM, "--format", "json"))
    return {"seconds": round(time.perf_counter() - started, 1), "records": run.get("records"),
            **{k: scores.get(k) for k in ("f1", "precision", "recall", "b3_f1", "format")}}


def bibliographic_hand(one_to_one: bool) -> dict[str, Any]:
    """Hand-configured Splink for DBLP-ACM: title and authors Jaro-Winkler, year exact; best threshold."""
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from urbanbrain.core import duck
    from urbanbrain.link.clusters import connected_components
    from urbanbrain.link.clusters import one_to_one as assign
    from urbanbrain.link.truth import evaluate, read_truth

    clean = """SELECT {p} || id AS unique_id, id AS record_key,
      nullif(trim(regexp_replace(regexp_replace(lower(title), '[^a-z0-9 ]', ' ', 'g'), '\\s+', ' ', 'g')), '') AS title,
      nullif(trim(regexp_replace(regexp_replace(lower(authors), '[^a-z ,]', ' ', 'g'), '\\s+', ' ', 'g')), '')
        AS authors,
      CAST(TRY_CAST(TRY_CAST(year AS DOUBLE) AS INTEGER) AS VARCHAR) AS year
      FROM read_csv(?, all_varchar = true, header = true)"""
    started = time.perf_counter()
    con = duck.connect()
    try:
        left = con.execute(clean.format(p="'d'"), [str(BIB / "dblp.csv")]).to_arrow_table()
        right = con.execute(clean.format(p="'a'"), [str(BIB / "acm.csv")]).to_arrow_table()
        settings = SettingsCreator(
            link_type="link_only", unique_id_column_name="unique_id",
            comparisons=[cl.JaroWinklerAtThresholds("title", [0.95, 0.88, 0.7]),
                         cl.JaroWinklerAtThresholds("authors", [0.95, 0.88, 0.7]), cl.ExactMatch("year")],
            blocking_rules_to_generate_predictions=[block_on("substr(title, 1, 8)"), block_on("year"),
                                                    block_on("substr(authors, 1, 6)")],
            retain_matching_columns=False, retain_intermediate_calculation_columns=False)
        api = DuckDBAPI(con)
        linker = Linker([api.register(left.drop_columns(["record_key"]), table_name="b_left"),
                         api.register(right.drop_columns(["record_key"]), table_name="b_right")], settings,
                        log_level=None)
        linker.training.estimate_probability_two_random_records_match([block_on("title")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
        for block in (block_on("year"), block_on("substr(title, 1, 8)")):
            linker.training.estimate_parameters_using_expectation_maximisation(block)
        frame = linker.inference.predict(threshold_match_probability=0.01)
        pairs = con.execute(f"SELECT unique_id_l, unique_id_r, match_probability, match_weight "
                            f"FROM {frame.physical_name}").to_arrow_table()
    finally:
        con.close()
    uids = [*left.column("unique_id").to_pylist(), *right.column("unique_id").to_pylist()]
    keys = [*left.column("record_key").to_pylist(), *right.column("record_key").to_pylist()]
    datasets = [DBLP] * left.num_rows + [ACM] * right.num_rows
    truth = read_truth(BIB / "labels_dblp_acm.csv")
    ls, rs = pairs.column("unique_id_l").to_pylist(), pairs.column("unique_id_r").to_pylist()
    probs, weights = pairs.column("match_probability").to_pylist(), pairs.column("match_weight").to_pylist()
    best: dict[str, Any] = {}
    at: dict[str, float] = {}
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        above = [i for i, p in enumerate(probs) if p >= threshold]
        if one_to_one:
            above = [above[k] for k in assign([ls[i] for i in above], [rs[i] for i in above],
                                              [weights[i] for i in above])]
        comp = connected_components(uids, [ls[i] for i in above], [rs[i] for i in above])
        xref = pa.table({"unique_id": uids, "entity_id": [str(comp[u]) for u in uids], "source_dataset": datasets,
                         "record_key": keys})
        result = evaluate(xref, truth, left=DBLP, right=ACM).as_dict()
        at[str(threshold)] = result["f1"]
        if not best or result["f1"] > best["f1"]:
            best = {"threshold": threshold, **{k: result[k] for k in ("f1", "precision", "recall", "b3_f1")}}
    return {"one_to_one": one_to_one, "best": best, "f1_at_0.9": at["0.9"], "by_threshold": at,
            "seconds": round(time.perf_counter() - started, 1)}


CLEAN = """
SELECT {prefix} || id AS unique_id, CAST(id AS VARCHAR) AS record_key,
  nullif(trim(regexp_replace(regexp_replace(lower(name), '[^a-z0-9 ]', ' ', 'g'), '\\s+', ' ', 'g')), '') AS name,
  nullif(trim(regexp_replace(regexp_replace(lower(addr), '[^a-z0-9 ]', ' ', 'g'), '\\s+', ' ', 'g')), '') AS addr,
  nullif(left(regexp_replace(phone, '[^0-9]', '', 'g'), 10), '') AS phone,
  nullif(trim(lower(city)), '') AS city, nullif(trim(lower(type)), '') AS type
FROM read_csv(?, all_varchar = true, header = true)
"""


def _hand_model(with_type: bool) -> tuple[Any, list[Any]]:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons: list[Any] = [cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.7]),
                   cl.JaroWinklerAtThresholds("addr", [0.95, 0.88, 0.7]),
                   cl.ExactMatch("phone"), cl.ExactMatch("city")]
    if with_type:
        comparisons.append(cl.JaroWinklerAtThresholds("type", [0.9]))
    settings = SettingsCreator(
        link_type="link_only", unique_id_column_name="unique_id", comparisons=comparisons,
        blocking_rules_to_generate_predictions=[
            block_on("phone"), block_on("name"), block_on("substr(name, 1, 4)"), block_on("substr(addr, 1, 6)"),
            block_on("addr")],
        retain_matching_columns=False, retain_intermediate_calculation_columns=False)
    return settings, [block_on("phone"), block_on("substr(name, 1, 3)")]


def hand_configured(with_type: bool, one_to_one: bool) -> dict[str, Any]:
    """The best hand-made Splink model: scored at each threshold of a grid; `one_to_one` keeps each
    record's strongest partner only (what the platform does in link-only mode) before clustering."""
    import pyarrow as pa
    from splink import DuckDBAPI, Linker, block_on

    from urbanbrain.core import duck
    from urbanbrain.link.clusters import connected_components
    from urbanbrain.link.clusters import one_to_one as assign
    from urbanbrain.link.truth import evaluate, read_truth

    started = time.perf_counter()
    con = duck.connect()
    try:
        left = con.execute(CLEAN.format(prefix="'f'"), [str(DATA / "fodors.csv")]).to_arrow_table()
        right = con.execute(CLEAN.format(prefix="'z'"), [str(DATA / "zagats.csv")]).to_arrow_table()
        api = DuckDBAPI(con)
        settings, em_blocks = _hand_model(with_type)
        linker = Linker([api.register(left.drop_columns(["record_key"]), table_name="h_left"),
                         api.register(right.drop_columns(["record_key"]), table_name="h_right")],
                        settings, log_level=None)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("phone"), block_on("name", "city")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
        for block in em_blocks:
            linker.training.estimate_parameters_using_expectation_maximisation(block)
        frame = linker.inference.predict(threshold_match_probability=0.01)
        pairs = con.execute(f"SELECT unique_id_l, unique_id_r, match_probability, match_weight "
                            f"FROM {frame.physical_name}").to_arrow_table()
    finally:
        con.close()
    uids = [*left.column("unique_id").to_pylist(), *right.column("unique_id").to_pylist()]
    keys = [*left.column("record_key").to_pylist(), *right.column("record_key").to_pylist()]
    datasets = [FODORS] * left.num_rows + [ZAGAT] * right.num_rows
    truth = read_truth(TRUTH)
    by_threshold: dict[str, float] = {}
    best: dict[str, Any] = {}
    probs = pairs.column("match_probability").to_pylist()
    ls, rs = pairs.column("unique_id_l").to_pylist(), pairs.column("unique_id_r").to_pylist()
    weights = pairs.column("match_weight").to_pylist()
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        above = [i for i, p in enumerate(probs) if p >= threshold]
        if one_to_one:
            above = [above[k] for k in assign([ls[i] for i in above], [rs[i] for i in above],
                                              [weights[i] for i in above])]
        kept = [(ls[i], rs[i]) for i in above]
        comp = connected_components(uids, [a for a, _ in kept], [b for _, b in kept])
        xref = pa.table({"unique_id": uids, "entity_id": [str(comp[u]) for u in uids], "source_dataset": datasets,
                         "record_key": keys})
        result = evaluate(xref, truth, left=FODORS, right=ZAGAT).as_dict()
        by_threshold[str(threshold)] = result["f1"]
        if not best or result["f1"] > best["f1"]:
            best = {"threshold": threshold, **{k: result[k] for k in ("f1", "precision", "recall", "b3_f1")}}
    return {"with_type": with_type, "one_to_one": one_to_one, "best": best, "f1_at_0.9": by_threshold["0.9"],
            "by_threshold": by_threshold,
            "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the scratch home")
    args, _ = parser.parse_known_args(argv)
    print(json.dumps({"load": os.getloadavg()}), flush=True)
    hand = [hand_configured(with_type, one) for with_type in (False, True) for one in (False, True)]
    for h in hand:
        print(json.dumps({"hand_configured": h}), flush=True)
    reference = max(hand, key=lambda h: h["best"]["f1"])
    work = Path(tempfile.mkdtemp(prefix="ub-link-quality-"))
    try:
        ours = default_path(work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"default_path": {k: v for k, v in ours.items() if k != "proposals"}}), flush=True)
    print("".join(ours["proposals"]))
    bib_hand = [bibliographic_hand(one) for one in (False, True)]
    for h in bib_hand:
        print(json.dumps({"bibliographic_hand_configured": h}), flush=True)
    work = Path(tempfile.mkdtemp(prefix="ub-link-quality-"))
    try:
        bib = bibliographic_default(work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bibliographic_default_path": bib}), flush=True)
    bib_ref = max(bib_hand, key=lambda h: h["best"]["f1"])
    bib_gap = round(bib_ref["best"]["f1"] - bib["f1"], 4)
    gap = round(reference["best"]["f1"] - ours["f1"], 4)
    summary = {"restaurants": {"default_path": ours, "hand_configured": hand, "gap": gap,
                               "within_0.01_met": gap <= 0.01}, "load_after": os.getloadavg(),
               "bibliographic": {"default_path": bib, "hand_configured": bib_hand, "gap": bib_gap},
               "targets": {"restaurants_within_0.01_met": gap <= 0.01,
                           "bibliographic_within_0.01_met": bib_gap <= 0.01}}
    out = Path(__file__).resolve().parent / ".work"
    out.mkdir(parents=True, exist_ok=True)
    (out / "link_quality.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({"gap": gap, "within_0.01_met": gap <= 0.01, "default_f1": ours["f1"],
                      "hand_best_f1": reference["best"]["f1"], "bibliographic_gap": bib_gap,
                      "bibliographic_default_f1": bib["f1"], "bibliographic_hand_best_f1": bib_ref["best"]["f1"]}))
    return summary


if __name__ == "__main__":
    main()
