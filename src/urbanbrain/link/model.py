"""Splink on DuckDB, behind four calls: train, link everything, link a batch against the registry,
and count what the blocking rules would compare.

A `ModelSpec` says what a kind compares and how it blocks; `train` fits the m/u parameters (u by
random sampling, m by expectation maximisation on blocks that leave the compared fields free) and
returns Splink's own JSON, which `link_all`/`link_batch` load again. Splink is imported lazily: it
pulls in pandas and sqlglot, which nothing else needs at start-up.

Blocking rules are chosen so comparisons grow about linearly with the registry: exact keys (ID
number, credit code, phone) and combinations (birth date + name pinyin) whose blocks stay small as
the population grows. `count_comparisons` reports the cumulative count so `bench/link.py` can show it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import pyarrow as pa

from urbanbrain.core import duck

# Splink's log lines are many and chatty; our callers report progress themselves.
logging.getLogger("splink").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ModelSpec:
    """What one kind of entity is compared on, and how candidate pairs are found.

    `comparisons()` returns Splink comparison creators (a function, so Splink is imported only when a
    model is built); blocking rules are lists of column names combined with `block_on`.
    `training_blocks` are the EM passes; each must leave some comparisons free to be estimated.
    """

    name: str
    comparisons: Callable[[], list[Any]]
    blocking: tuple[tuple[str, ...], ...]
    training_blocks: tuple[tuple[str, ...], ...]
    prior_rules: tuple[tuple[str, ...], ...]  # deterministic rules for the prior match probability
    prior_recall: float = 0.9
    threshold: float = 0.95  # pairs at or above are links
    review_low: float = 0.5  # pairs in [review_low, threshold) go to the steward's queue
    u_pairs: float = 2e6
    # keys that identify an entity with near certainty; u is estimated on one record per key value, so
    # that on a small, duplicate-rich registry random pairs are not inflated by true matches
    u_dedupe: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)
    # comparison -> the least m-probability of its "else" level: EM on a few hundred pairs makes a noisy
    # attribute's disagreement (a guide's cuisine label, a city written two ways) look nearly impossible
    # among matches, and one such field then outweighs a matching name and phone
    else_m_floor: dict[str, float] = field(default_factory=dict)
    # deterministic pairs added to the scored ones: rule_pairs(batch, registry or None, probability) pairs
    # records of `batch` with records of either (addresses: a record naming only a house joins one dwelling)
    rule_pairs: Callable[[pa.Table, pa.Table | None, float], pa.Table] | None = None
    # levels are ordered most similar first: after training, no level counts as less evidence of a match
    # than a less similar one (EM on ~100 matches leaves a level it saw no match in at m = 0, which made
    # "Jaro-Winkler >= 0.92" veto a pair that "Jaro-Winkler >= 0.8" would have supported)
    monotone: bool = False


def _block(columns: Sequence[str]) -> Any:
    from splink import block_on

    return block_on(*columns)


def block_sql(columns: Sequence[str]) -> str:
    """The SQL of the blocking rule on `columns`, as a saved model holds it."""
    return str(_block(columns).get_blocking_rule("duckdb").blocking_rule_sql)


LinkType = Literal["link_only", "link_and_dedupe", "dedupe_only"]


def settings(spec: ModelSpec, link_type: LinkType = "dedupe_only") -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type=link_type, unique_id_column_name="unique_id", comparisons=spec.comparisons(),
        blocking_rules_to_generate_predictions=[_block(cols) for cols in spec.blocking],
        retain_intermediate_calculation_columns=False, retain_matching_columns=False,
        additional_columns_to_retain=[],
    )


def _api(con: duckdb.DuckDBPyConnection) -> Any:
    from splink import DuckDBAPI

    return DuckDBAPI(con)


def _result(con: duckdb.DuckDBPyConnection, frame: Any) -> pa.Table:
    """Pairs as (uid_l, uid_r, probability, weight), read out of DuckDB and the Splink table dropped."""
    table = con.execute(f"SELECT unique_id_l AS uid_l, unique_id_r AS uid_r, match_probability AS probability, "
                        f"match_weight AS weight FROM {frame.physical_name}").fetch_arrow_table()
    frame.drop_table_from_database_and_remove_from_cache()
    return table


def train(spec: ModelSpec, records: pa.Table, *, link_type: LinkType = "dedupe_only",
          other: pa.Table | None = None, report: list[str] | None = None) -> dict[str, Any]:
    """Fit the model on `records` (and `other`, for link-only data sets) and return it as JSON.

    Training reads only the features, never writes; a million records train in well under a minute
    because u is sampled and every EM pass is blocked. It does not fail on data that gives a step
    nothing to learn from: a prior fixed by the spec (`fixed["prior"]`) or one the deterministic rules
    cannot estimate falls back to the data's size; an EM pass that finds no pairs is skipped and its
    comparisons keep the other passes' (or Splink's default) m-probabilities. What happened is appended
    to `report`.
    """
    from splink import Linker

    notes = report if report is not None else []
    con = duck.connect()
    try:
        api = _api(con)
        inputs = [api.register(records, table_name="ub_left")]
        if other is not None:
            inputs.append(api.register(other, table_name="ub_right"))
        linker = Linker(inputs if other is not None else inputs[0], settings(spec, link_type), log_level=None)
        size = records.num_rows + (other.num_rows if other is not None else 0)
        fallback = float(spec.fixed.get("prior") or 1.0 / max(2, 2 * (size - 1)))
        if spec.fixed.get("prior") or not spec.prior_rules:
            linker._settings_obj._probability_two_random_records_match = fallback
            notes.append(f"prior: no deterministic rule finds pairs; estimated from the data's size ({fallback:.3g})")
        else:
            try:
                linker.training.estimate_probability_two_random_records_match(
                    [_block(cols) for cols in spec.prior_rules], recall=spec.prior_recall)
            except (ValueError, ZeroDivisionError, _splink_error()) as exc:
                linker._settings_obj._probability_two_random_records_match = fallback
                notes.append(f"prior: deterministic rules gave no estimate ({exc}); using {fallback:.3g}")
        if spec.u_dedupe and other is None:
            u_sample = _one_per_key(records, spec.u_dedupe)
            u_input = api.register(u_sample, table_name="ub_u_sample")
            u_linker = Linker(u_input, settings(spec, link_type), log_level=None)
            u_linker.training.estimate_u_using_random_sampling(max_pairs=spec.u_pairs, seed=42)
            _copy_u(u_linker, linker, floor=2.0 / max(2, u_sample.num_rows * (u_sample.num_rows - 1)))
        else:
            linker.training.estimate_u_using_random_sampling(max_pairs=spec.u_pairs, seed=42)
        for cols in spec.training_blocks:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(_block(cols))
            except (ValueError, ZeroDivisionError, _splink_error()) as exc:
                notes.append(f"EM on {' + '.join(cols)} skipped: {str(exc).splitlines()[0][:160]}")
        model: dict[str, Any] = linker.misc.save_model_to_json()
        return _floor_else_m(_monotone(model) if spec.monotone else model, spec.else_m_floor)
    finally:
        con.close()


def _floor_else_m(model: dict[str, Any], floors: dict[str, float]) -> dict[str, Any]:
    """Raise each named comparison's else-level m to its floor, scaling the other levels' m down to keep
    the comparison's m summing to one."""
    for comp in model.get("comparisons", []):
        floor = floors.get(str(comp.get("output_column_name")))
        levels = [lv for lv in comp.get("comparison_levels", []) if not lv.get("is_null_level")]
        if floor is None or not levels or not isinstance(levels[-1].get("m_probability"), float | int):
            continue
        last = levels[-1]
        if float(last["m_probability"]) >= floor:
            continue
        rest = sum(float(lv.get("m_probability") or 0.0) for lv in levels[:-1])
        scale = (1.0 - floor) / rest if rest > 0 else 0.0
        for lv in levels[:-1]:
            if isinstance(lv.get("m_probability"), float | int):
                lv["m_probability"] = float(lv["m_probability"]) * scale
        last["m_probability"] = floor
    return model


def _monotone(model: dict[str, Any]) -> dict[str, Any]:
    """Raise the m of any level whose Bayes factor m/u falls below that of a less similar level below it
    (the levels after the null level are ordered most similar first), then rescale so m sums to one."""
    for comp in model.get("comparisons", []):
        # levels never seen in the u sample (u = 0) or untrained keep what they have
        levels = [lv for lv in comp.get("comparison_levels", []) if not lv.get("is_null_level")
                  and isinstance(lv.get("m_probability"), float | int)
                  and isinstance(lv.get("u_probability"), float | int) and float(lv["u_probability"]) > 0]
        if len(levels) < 2:
            continue
        best_below = 0.0
        for lv in reversed(levels):
            m, u = float(lv["m_probability"]), float(lv["u_probability"])
            if m / u < best_below:
                lv["m_probability"] = best_below * u
            best_below = max(best_below, float(lv["m_probability"]) / u)
        ids = {id(lv) for lv in levels}
        others = sum(float(lv.get("m_probability") or 0.0) for lv in comp.get("comparison_levels", [])
                     if not lv.get("is_null_level") and id(lv) not in ids)
        total = sum(float(lv["m_probability"]) for lv in levels) / max(1e-12, 1.0 - others)
        if total > 0:
            for lv in levels:
                lv["m_probability"] = float(lv["m_probability"]) / total
    return model


def _splink_error() -> type[Exception]:
    from splink.internals.exceptions import SplinkException

    return SplinkException


def _one_per_key(records: pa.Table, keys: Sequence[str]) -> pa.Table:
    """`records` with later duplicates of each non-null key value removed (one key after another)."""
    con = duck.connect()
    try:
        con.register("ub_in", records)
        sql = "SELECT * FROM ub_in"
        for key in keys:
            col = f'"{key}"'
            sql = (f"SELECT * FROM ({sql}) QUALIFY {col} IS NULL OR "
                   f"row_number() OVER (PARTITION BY {col} ORDER BY unique_id) = 1")
        return con.execute(sql).fetch_arrow_table()
    finally:
        con.close()


def _copy_u(source: Any, target: Any, floor: float) -> None:
    """Copy trained u probabilities level by level between two linkers of the same settings.

    A level never seen among the sampled non-matches (an exact ID number, once the sample holds one
    record per ID) gets `floor`, one over the number of pairs in the sample: it agreed in none of them.
    """
    for src, dst in zip(source._settings_obj.comparisons, target._settings_obj.comparisons, strict=True):
        for a, b in zip(src.comparison_levels, dst.comparison_levels, strict=True):
            if a.is_null_level or a._is_else_level:
                if a._u_probability is not None and not isinstance(a._u_probability, str):
                    b._u_probability = a._u_probability
                continue
            u = a._u_probability
            b._u_probability = floor if u is None or isinstance(u, str) else u


def tf_columns(model: dict[str, Any]) -> list[str]:
    """Columns whose comparison levels are adjusted by term frequency (the value's share of the records)."""
    return sorted({str(lv["tf_adjustment_column"]) for c in model.get("comparisons", [])
                   for lv in c.get("comparison_levels", []) if lv.get("tf_adjustment_column")})


def _linker(con: Any, model: dict[str, Any], records: pa.Table, other: pa.Table | None) -> tuple[Any, Any]:
    """A Splink linker over `records` (deduplication) or `records` and `other` (link-only) on `con`."""
    from splink import Linker

    api = _api(con)
    inputs = [api.register(records, table_name="ub_left")]
    if other is not None:
        inputs.append(api.register(other, table_name="ub_right"))
    return api, Linker(inputs if other is not None else inputs[0], model, log_level=None)


def term_frequencies(model: dict[str, Any], records: pa.Table, *, other: pa.Table | None = None
                     ) -> dict[str, pa.Table]:
    """Splink's term-frequency tables over all of `records` (and `other`): a slice of the records scored
    alone (`link_all(tf=...)`) must use the whole data's frequencies to score a pair as the whole run does."""

    columns = tf_columns(model)
    if not columns:
        return {}
    con = duck.connect()
    try:
        _, linker = _linker(con, model, records, other)
        out = {}
        for column in columns:
            frame = linker.table_management.compute_tf_table(column)
            out[column] = con.execute(f"SELECT * FROM {frame.physical_name}").fetch_arrow_table()
        return out
    finally:
        con.close()


def link_all(model: dict[str, Any], records: pa.Table, *, other: pa.Table | None = None,
             threshold: float = 0.0, tf: dict[str, pa.Table] | None = None) -> pa.Table:
    """Every scored pair among `records` (or between `records` and `other`) at or above `threshold`;
    `tf`: term-frequency tables to use instead of those of these records (`term_frequencies`)."""

    con = duck.connect()
    try:
        api, linker = _linker(con, model, records, other)
        for n, (column, table) in enumerate(sorted((tf or {}).items())):
            linker.table_management.register_term_frequency_lookup(api.register(table, table_name=f"ub_tf_{n}"),
                                                                   column)
        return _result(con, linker.inference.predict(threshold_match_probability=threshold or None))
    finally:
        con.close()


def link_batch(model: dict[str, Any], batch: pa.Table, registry: pa.Table, *, threshold: float = 0.0) -> pa.Table:
    """Pairs of a new batch with the registry and within the batch; registry pairs are never re-scored.

    The registry is only joined on the blocking keys of the batch, so the work follows the batch size
    and the size of its blocks, not the size of the registry.
    """
    from splink import Linker

    con = duck.connect()
    try:
        api = _api(con)
        new = api.register(batch, table_name="ub_batch")
        old = api.register(registry, table_name="ub_registry")
        linker = Linker(old, model, log_level=None)
        cut = threshold or None
        between = _result(con, linker.inference.predict_between(
            new, old, threshold_match_probability=cut, warning_mode="never"))
        within = _result(con, linker.inference.predict_within(
            new, threshold_match_probability=cut, warning_mode="never"))
        return pa.concat_tables([between, within])
    finally:
        con.close()


def count_comparisons(spec: ModelSpec, records: pa.Table, *, sample: float = 1.0) -> int:
    """How many pairs the blocking rules generate for `records`, repeats across rules removed.

    `sample` < 1 estimates from that share of records on each side (Splink scales the count up).
    """
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    con = duck.connect()
    try:
        frame = _api(con).register(records, table_name="ub_count")
        counts = count_comparisons_from_blocking_rules(
            frame, blocking_rules=[_block(c) for c in spec.blocking], link_type="dedupe_only",
            record_sample_proportion=sample)
        return int(counts[-1]["cumulative_comparison_count"]) if counts else 0
    finally:
        con.close()
