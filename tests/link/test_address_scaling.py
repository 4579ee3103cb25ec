"""Address linking stays linear as buildings fill up, and records naming only a house join one flat.

The small demo city's 121 k address records ran out of memory: comparisons (and an EM pass blocked on
district + road) grew with the square of the records per house. These tests count comparisons -- Splink's
exact count of the blocking rules, no timings -- on address records made with the demo's generators
(`demo.geo.addresses`, `format_addresses`): a fixed set of houses holding 1x and then 3x the flats, each
flat written by four departments in their styles. Tripling the flats must about triple the comparisons.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.demo import geo
from urbanbrain.link import model
from urbanbrain.link.houses import house_pairs
from urbanbrain.link.model import ModelSpec
from urbanbrain.link.prepare import features_frame
from urbanbrain.link.run import features
from urbanbrain.link.specs import ADDRESS

HOUSES = 200
RECORDS_PER_FLAT = 4


def _records(flats: int, seed: int = 3) -> pa.Table:
    """Address features of `flats` dwellings spread over the same HOUSES houses, four records each."""
    houses = geo.addresses(HOUSES, np.random.default_rng(0))
    rng = np.random.default_rng(seed)
    dwellings = geo.addresses(flats, rng)
    at = pa.array(rng.integers(0, HOUSES, flats))
    for column in ("district_code", "district", "street", "community", "road", "number"):
        dwellings = dwellings.set_column(dwellings.schema.get_field_index(column), column,
                                         houses.column(column).take(at))
    seen = dwellings.take(pa.array(np.repeat(np.arange(flats), RECORDS_PER_FLAT)))
    styles = rng.integers(0, geo.STYLES, seen.num_rows).astype(np.int8)
    raw = pa.table({"record_key": pa.array([str(k) for k in range(seen.num_rows)]),
                    "record_date": pa.nulls(seen.num_rows, pa.string()),
                    "address": pa.array(geo.format_addresses(seen, styles), pa.string())})
    return features_frame("address", raw, dataset="test.addresses")


def _largest_block(records: pa.Table, columns: tuple[str, ...]) -> int:
    """Records sharing the most common value of `columns` (records with a null in them are in no block)."""
    mask = pc.is_valid(records.column(columns[0]))
    for c in columns[1:]:
        mask = pc.and_(mask, pc.is_valid(records.column(c)))
    counts = records.filter(mask).group_by(list(columns)).aggregate([([], "count_all")])
    return int(pc.max(counts.column("count_all")).as_py())


def test_address_comparisons_grow_linearly_with_the_flats_of_a_house() -> None:
    one, three = _records(1_000), _records(3_000)
    assert three.num_rows == 3 * one.num_rows
    ratio = model.count_comparisons(ADDRESS, features(three)) / model.count_comparisons(ADDRESS, features(one))
    assert ratio <= 3 * 1.25, ratio
    # the data must be able to fail: blocking on the house alone grows with the square of its flats
    house_only = ModelSpec(name="address", comparisons=ADDRESS.comparisons, blocking=(("addr_road", "addr_number"),),
                           training_blocks=(), prior_rules=())
    old = model.count_comparisons(house_only, features(three)) / model.count_comparisons(house_only, features(one))
    assert old >= 6, old
    # a block is one dwelling's records, however many flats the house holds
    for key in (*ADDRESS.blocking, *ADDRESS.training_blocks):
        assert _largest_block(three, key) <= 4 * RECORDS_PER_FLAT, key


def test_records_naming_only_a_house_join_one_flat() -> None:
    records = _records(1_000)
    partial = records.filter(pc.is_null(records.column("addr_room")))
    pairs = house_pairs(records, None, ADDRESS.threshold)
    assert 0 < pairs.num_rows <= partial.num_rows  # at most one pair per partial record: a star, not a chain
    assert pc.all(pc.equal(pairs.column("probability"), ADDRESS.threshold)).as_py()


def test_house_rule_prefers_the_most_recorded_flat_and_respects_a_named_building() -> None:
    def table(rows: list[tuple[str, str | None, str | None]]) -> pa.Table:
        return pa.table({"unique_id": [r[0] for r in rows], "addr_road": ["五一"] * len(rows),
                         "addr_number": ["1"] * len(rows), "addr_building": [r[1] for r in rows],
                         "addr_room": [r[2] for r in rows]})

    registry = table([("a1", "3", "501"), ("a2", "3", "501"), ("b1", "4", "101")])
    batch = table([("h", None, None), ("h4", "4", None)])
    pairs = {(r["uid_l"], r["uid_r"]) for r in house_pairs(batch, registry, 0.95).to_pylist()}
    assert pairs == {("h", "a1"), ("h4", "b1")}
    alone = table([("x2", None, None), ("x1", None, None)])  # no flat recorded: the lowest record anchors
    assert [(r["uid_l"], r["uid_r"]) for r in house_pairs(alone, None, 0.95).to_pylist()] == [("x2", "x1")]
