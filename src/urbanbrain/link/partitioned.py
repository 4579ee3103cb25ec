"""Linking partitioned by blocking key: the pairs `model.link_all` finds, found as many small tasks.

Splink only compares two records that agree on one blocking rule's key. So for each rule, records are
hashed into partitions by that rule's key (records with a null in it are in no block of the rule), and
each (rule, partition) is scored on its own - by Splink, with the trained model and that one rule - as a
Ray task on a cluster (`core.execution.run_all`). Every pair the one-piece run finds lies inside one
partition of the first rule that finds it; the union over rules, repeats removed, is that run's pair
set, and each pair's probability and weight are computed by the same expression from the same two
records and the same trained parameters; term frequencies (how common a name is) are computed once over
all the records and handed to every part, never taken from its slice.
The tests compare both runs' pairs and clusters.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core import duck
from urbanbrain.link import model

RULES = "blocking_rules_to_generate_predictions"


def partitions_wanted() -> int:
    """Setting `link_partitions`; 0: the Ray cluster's CPUs on a ray:// engine, one piece in process."""
    from urbanbrain.core.execution import parse_engine
    from urbanbrain.core.settings import get_settings

    settings = get_settings()
    if settings.link_partitions:
        return settings.link_partitions
    if parse_engine(settings.engine)[0] == "inprocess":
        return 1
    from urbanbrain.core.execution import get_backend

    backend = get_backend()
    try:
        return backend.capacity()
    finally:
        backend.close()


def _slots(records: pa.Table, columns: Sequence[str], parts: int) -> pa.Array:
    """Each record's partition for one rule's key, or null when part of the key is null."""
    con = duck.connect()
    try:
        con.register("ub_records", records.select(list(columns)))
        key = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        nulls = " OR ".join(f'"{c}" IS NULL' for c in columns)
        return con.execute(f"SELECT CASE WHEN {nulls} THEN NULL ELSE hash({key}) % {parts} END AS p "
                           "FROM ub_records").fetch_arrow_table().column(0).combine_chunks()
    finally:
        con.close()


def _slice(records: pa.Table, slots: pa.Array, part: int) -> pa.Table:
    return records.filter(pc.fill_null(pc.equal(slots, pa.scalar(part, slots.type)), False))


def _same_rules(rules: list[Any], blocking: Sequence[Sequence[str]]) -> bool:
    """Whether the model's rules are the kind's blocking keys, in order (else the keys to partition by
    are unknown and the run stays in one piece)."""
    if len(rules) != len(blocking):
        return False
    for rule, columns in zip(rules, blocking, strict=True):
        text = rule.get("blocking_rule") if isinstance(rule, dict) else rule
        if text != model.block_sql(columns):
            return False
    return True


def link_part(fitted: dict[str, Any], records: pa.Table, other: pa.Table | None, threshold: float,
              tf: dict[str, pa.Table]) -> pa.Table:
    """One (rule, partition): a module-level function, so a Ray node imports and runs it."""
    return model.link_all(fitted, records, other=other, threshold=threshold, tf=tf)


def link_all(fitted: dict[str, Any], blocking: Sequence[Sequence[str]], records: pa.Table, *,
             other: pa.Table | None = None, threshold: float = 0.0, partitions: int | None = None) -> pa.Table:
    """`model.link_all`, partitioned by blocking key over `partitions` (default: `partitions_wanted()`)."""
    parts = partitions if partitions is not None else partitions_wanted()
    rules = fitted.get(RULES) or []
    if parts <= 1 or not blocking or not _same_rules(rules, blocking):
        return model.link_all(fitted, records, other=other, threshold=threshold)
    tf = model.term_frequencies(fitted, records, other=other)  # the whole data's, not each slice's
    calls: list[tuple[Any, ...]] = []
    for rule, columns in zip(rules, blocking, strict=True):
        one = copy.deepcopy(fitted)
        one[RULES] = [rule]
        left_slots = _slots(records, columns, parts)
        right_slots = _slots(other, columns, parts) if other is not None else None
        for p in range(parts):
            left = _slice(records, left_slots, p)
            right = _slice(other, right_slots, p) if other is not None and right_slots is not None else None
            if left.num_rows < (1 if right is not None else 2) or (right is not None and right.num_rows == 0):
                continue  # no pair can form here
            calls.append((one, left, right, threshold, tf))
    from urbanbrain.core.execution import run_all

    found = [t for t in run_all(link_part, calls) if t.num_rows]
    if not found:
        return pa.table({"uid_l": pa.array([], pa.string()), "uid_r": pa.array([], pa.string()),
                         "probability": pa.array([], pa.float64()), "weight": pa.array([], pa.float64())})
    con = duck.connect()
    try:
        con.register("ub_pairs", pa.concat_tables(found))
        # a pair several rules find once, as the one-piece run reports it (its values agree whichever rule found it)
        return con.execute("SELECT uid_l, uid_r, any_value(probability) AS probability, any_value(weight) AS weight "
                           "FROM ub_pairs GROUP BY uid_l, uid_r ORDER BY uid_l, uid_r").fetch_arrow_table()
    finally:
        con.close()
