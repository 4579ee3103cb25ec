"""The pieces of linking without a lake: Chinese features, pair scoring, stable IDs and their events."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from tests.sync.helpers import register
from urbanbrain.core.errors import ConfigurationError
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.link import store
from urbanbrain.link.ids import IdCounter, assign_batch, assign_full
from urbanbrain.link.metrics import pairwise_scores
from urbanbrain.link.normalise import address_parts, birth_from_id, firm_parts, pinyin, valid_id


def test_names_compare_by_pinyin_and_firms_by_core() -> None:
    assert pinyin("张伟") == pinyin("章伟") == "zhangwei"
    assert firm_parts("长沙湘岳科技有限公司") == firm_parts("长沙市湘岳科技有限责任公司") == ("湘岳科技", "有限公司")
    assert firm_parts("长沙(湘岳)科技有限公 司")[0] == "湘岳科技"
    assert firm_parts("长沙湘岳个人独资企业") == ("湘岳", "个人独资企业")


def test_identifiers_and_addresses_are_standardised() -> None:
    assert valid_id("11010519491231002X") and not valid_id("11010519491231002Y")
    assert birth_from_id("11010519491231002X") == "1949-12-31"
    a = address_parts("长沙芙蓉区五一路123号3-2-501")
    b = address_parts("湖南省长沙市芙蓉区五一路１２３号3栋2单元501室")
    assert (a["road"], a["number"], a["building"], a["unit"], a["room"]) == ("五一", 123, 3, 2, 501)
    assert a["standard"] == b["standard"]


def test_pairwise_scores_count_pairs_per_cell() -> None:
    s = pairwise_scores(pa.table({"predicted": ["a", "a", "a", "b"], "truth": ["x", "x", "y", "y"]}))
    assert (s.predicted_pairs, s.true_pairs, s.true_positives) == (3, 2, 1)
    assert round(s.f1, 4) == round(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5), 4)


def _counter() -> IdCounter:
    return IdCounter("person", 10)


def test_full_run_keeps_ids_and_records_merges_and_splits() -> None:
    previous = {"a": "PID0000000001", "b": "PID0000000001", "c": "PID0000000002", "d": "PID0000000003",
                "e": "PID0000000003", "f": "PID0000000003"}
    # a-b stay together; c joins them (2 merged into 1); d-e stay, f splits off into a new entity
    out = assign_full(list("abcdef"), ["a", "b", "d"], ["b", "c", "e"], previous, _counter())
    assert out.entity["a"] == out.entity["b"] == out.entity["c"] == "PID0000000001"
    assert out.entity["d"] == out.entity["e"] == "PID0000000003"
    assert out.entity["f"] == "PID0000000010"
    kinds = {(e.event, e.entity_id, e.other_entity_id) for e in out.events}
    assert ("merged", "PID0000000001", "PID0000000002") in kinds
    assert ("split", "PID0000000003", "PID0000000010") in kinds
    assert ("created", "PID0000000010", None) in kinds


def test_full_run_retires_entities_whose_records_are_gone() -> None:
    out = assign_full(["a"], [], [], {"a": "PID0000000001", "z": "PID0000000002"}, _counter())
    assert out.entity == {"a": "PID0000000001"}
    assert [(e.event, e.entity_id) for e in out.events] == [("retired", "PID0000000002")]


def test_batch_joins_existing_entities_and_merges_the_smaller_into_the_larger() -> None:
    registry = {"r1": "PID0000000001", "r2": "PID0000000002"}
    sizes = {"PID0000000001": 3, "PID0000000002": 1}
    members = {"PID0000000001": ["r1", "x1", "x2"], "PID0000000002": ["r2"]}
    out = assign_batch(["n1", "n2", "n3"], ["n1", "n1", "n3"], ["r1", "r2", "n2"], registry, sizes, _counter(),
                       lambda ids: {e: members[e] for e in ids})
    assert out.entity["n1"] == out.entity["r2"] == "PID0000000001"
    assert out.entity["n2"] == out.entity["n3"] == "PID0000000010"
    assert [(e.event, e.entity_id, e.other_entity_id) for e in out.events if e.event == "merged"] == [
        ("merged", "PID0000000001", "PID0000000002")]


def test_a_registry_never_adopts_another_departments_system_of_the_same_name(tmp_path: Path) -> None:
    """System names are unique city-wide: a department system called `person` must not become the
    owner (and so the governor) of the person registry."""
    db = tmp_path / "p.db"
    sqlite3.connect(db).close()
    register("person", "sqlite", {"url": f"sqlite:///{db}"}, dept="police")
    with pytest.raises(ConfigurationError, match="already belongs to department 'police'"):
        store.write("person", "golden", pa.table({"entity_id": ["PID1"]}))
    assert not get_catalog().table_exists(store.ident("person", "golden"))  # refused before writing


def test_link_only_keeps_one_partner_per_record_strongest_first() -> None:
    from urbanbrain.link.clusters import one_to_one

    # two restaurants of one hotel in each guide: four pairs share address and phone; names decide
    left, right = ["f:cafe", "f:cafe", "f:dining", "f:dining"], ["z:cafe", "z:dining", "z:cafe", "z:dining"]
    assert one_to_one(left, right, [30.0, 20.0, 21.0, 29.0]) == [0, 3]
    assert one_to_one(left, right, [30.0, 20.0, 21.0, 29.0], keep={("f:cafe", "z:dining")}) == [1, 2]


def test_trained_levels_never_count_a_closer_value_as_weaker_evidence() -> None:
    from urbanbrain.link.model import _monotone

    levels = [{"is_null_level": True}, {"m_probability": 0.5, "u_probability": 0.001},
              {"m_probability": 0.0, "u_probability": 0.001},  # EM saw no match here
              {"m_probability": 0.2, "u_probability": 0.01}, {"m_probability": 0.3, "u_probability": 0.988}]
    out = _monotone({"comparisons": [{"comparison_levels": levels}]})["comparisons"][0]["comparison_levels"]
    factors = [lv["m_probability"] / lv["u_probability"] for lv in out[1:]]
    assert factors == sorted(factors, reverse=True) and factors[1] > 0
    assert abs(sum(lv["m_probability"] for lv in out[1:]) - 1.0) < 1e-9


def test_categories_of_two_vocabularies_share_a_word() -> None:
    from urbanbrain.link.generic import field_features

    feats = field_features("category", "cuisine", ["French Bistro", "french", None])
    assert feats["cuisine"] == ["french bistro", "french", None]
    assert feats["cuisine__tokens"] == ["bistro french", "french", None]


def test_labelled_candidate_pairs_score_only_the_pairs_labelled() -> None:
    from urbanbrain.link.truth import evaluate

    xref = pa.table({"unique_id": ["d|1", "d|2", "d|3", "a|1", "a|2", "a|3"],
                     "entity_id": ["E1", "E2", "E3", "E1", "E2", "E9"],
                     "source_dataset": ["d", "d", "d", "a", "a", "a"], "record_key": ["1", "2", "3", "1", "2", "3"]})
    labels = pa.table({"dblp_id": ["1", "2", "3", "1"], "acm_id": ["1", "2", "3", "2"],
                       "label": ["1", "0", "1", "0"]})
    result = evaluate(xref, labels, left="d", right="a").as_dict()
    # linked: (1,1) a match, (2,2) labelled different; (3,3) a match not linked; (1,2) not linked, rightly
    assert (result["precision"], result["recall"]) == (0.5, 0.5)
    assert result["format"].startswith("labelled pairs (4 of 4 found, 2 matches)")
