"""Configured kinds without a lake: definitions, script-aware normalisation, rules measured on the data,
training that falls back instead of crashing, mapping expressions, and scoring against labelled files."""

from __future__ import annotations

import pyarrow as pa
import pytest

from urbanbrain.core.errors import AlreadyExistsError, ValidationError
from urbanbrain.link import choose, generic, kinds, model
from urbanbrain.link.mapping import check_source, parse_source
from urbanbrain.link.metrics import b_cubed
from urbanbrain.link.specs import SPECS
from urbanbrain.link.textnorm import latin_address, name_parts
from urbanbrain.link.truth import evaluate


def test_a_steward_defines_a_kind_and_bad_definitions_say_what_is_wrong() -> None:
    pub = kinds.define_kind("publication", {"title": "text", "authors": "name", "year": "number"}, prefix="PUB")
    assert kinds.get_kind("publication").fields == pub.fields and pub.prefix == "PUB"
    with pytest.raises(ValidationError, match="unknown comparison type 'fuzzy'"):
        kinds.define_kind("venue", {"name": "fuzzy"})
    with pytest.raises(AlreadyExistsError, match="preset"):
        kinds.define_kind("person", {"name": "name"})
    with pytest.raises(ValidationError, match="PUB"):
        kinds.define_kind("pubs", {"name": "name"}, prefix="PUB")
    with pytest.raises(ValidationError, match="unknown entity kind 'patent'"):
        kinds.get_kind("patent")
    assert kinds.set_mode("organisation", "link_only").mode == "link_only"
    assert "city" in kinds.get_kind("organisation").fields  # "organisation has no field city" no more


def test_latin_names_and_addresses_are_normalised_by_script() -> None:
    a, b = name_parts("Seok Ju Lee"), name_parts("LEE, Seok-Ju")
    assert a["norm"] == "seok ju lee" and a["key"] == b["key"] == "ju lee seok" and a["last"] == "lee"
    assert name_parts("José Müller")["norm"] == "jose muller"
    assert name_parts("张伟")["key"] == name_parts("章伟")["key"] == "zhangwei"
    x, y = latin_address("435 S. La Cienega Blvd."), latin_address("435 South La Cienega Boulevard")
    assert x["norm"] == y["norm"] == "435 s la cienega blvd" and x["number"] == "435" and x["street"] == "cienega"


def _people(n: int, *, birth: bool) -> pa.Table:
    raw = pa.table({"name": [f"Person {i // 2} Smith" for i in range(n)],
                    "phone": [f"555-01{i // 2:04d}" for i in range(n)],
                    "birth_date": [f"1980-01-{1 + i % 28:02d}" if birth else None for i in range(n)]})
    fields = {"name": "name", "phone": "phone", "birth_date": "date"}
    feats = generic.features(fields, raw)
    return pa.table({"unique_id": [str(i) for i in range(n)], **feats},
                    schema=pa.schema([("unique_id", pa.string()), *generic.columns_of(fields)]))


def test_rules_are_measured_and_a_kind_that_cannot_link_is_refused_by_name() -> None:
    records = _people(200, birth=False)
    plan = choose.plan("people", {"name": "name", "phone": "phone", "birth_date": "date"}, records)
    assert ("phone",) in plan.blocking and plan.counts["phone"] == 100
    assert plan.filled["birth_date"] == 0 and ("birth_date",) not in plan.blocking
    flat = pa.table({"unique_id": [str(i) for i in range(50)], "kind": ["a"] * 50})
    with pytest.raises(ValidationError, match="only category fields filled"):
        choose.plan("shop", {"kind": "category"}, flat)
    same = pa.table({"unique_id": [str(i) for i in range(100)], "email": ["x@y.org"] * 100})
    with pytest.raises(ValidationError, match=r"no field of shop is selective enough.*email 4950"):
        choose.plan("shop", {"email": "email"}, same)
    with pytest.raises(ValidationError, match="no field of shop has any value"):
        choose.plan("shop", {"kind": "category"}, pa.table({"unique_id": ["1"], "kind": pa.array([None], pa.string())}))


def test_training_without_national_ids_falls_back_instead_of_crashing() -> None:
    """Was: organisations without credit codes -> `ValueError: math domain error`; people without birth
    dates -> `EMTrainingException` on the birth_date + name_py pass."""
    names = [f"湘岳{i // 2}科技有限公司" for i in range(60)]
    orgs = pa.table({"unique_id": [str(i) for i in range(60)], "name": names, "name_core": names,
                     "name_core_py": names, "legal_form": ["有限公司"] * 60,
                     "credit_code": pa.array([None] * 60, pa.string()), "credit_valid": [False] * 60,
                     "phone": [f"1380000{i:04d}" for i in range(60)],
                     **{c: pa.array([None] * 60, pa.string()) for c in ("address_std", "addr_district", "addr_road",
                                                                        "addr_number", "addr_house", "addr_building",
                                                                        "addr_unit", "addr_room")}})
    notes: list[str] = []
    fitted = model.train(SPECS["organisation"], orgs.drop_columns(["credit_valid"]), report=notes)
    assert fitted["probability_two_random_records_match"] > 0
    assert any("prior" in n for n in notes) or any("EM" in n for n in notes), notes
    people = _people(80, birth=False)
    spec = choose.spec_for("people", {"name": "name", "phone": "phone", "birth_date": "date"},
                           choose.plan("people", {"name": "name", "phone": "phone", "birth_date": "date"}, people),
                           threshold=0.95)
    pairs = model.link_all(model.train(spec, people), people, threshold=0.95)
    assert pairs.num_rows >= 30


def test_mapping_sources_columns_lists_and_safe_expressions() -> None:
    assert parse_source("first_name+last_name") == ["first_name", "last_name"]
    assert parse_source("=lower(city)") == "=lower(city)"
    check_source("name", "=concat_ws(' ', first_name, last_name)")
    for bad in ("=(SELECT secret FROM hr.payroll.salaries)", "=read_csv('/etc/passwd')", "=*"):
        with pytest.raises(ValidationError, match="field 'name'"):
            check_source("name", bad)


def test_labelled_pairs_and_clusters_score_pairwise_and_b_cubed() -> None:
    xref = pa.table({"unique_id": ["a|1", "a|2", "b|1", "b|2"], "entity_id": ["E1", "E1", "E1", "E2"],
                     "source_dataset": ["a", "a", "b", "b"], "record_key": ["1", "2", "1", "2"]})
    pairs = evaluate(xref, pa.table({"l": ["1"], "r": ["1"]}), left="a", right="b")
    assert (pairs.pairwise.true_pairs, pairs.pairwise.predicted_pairs, pairs.pairwise.true_positives) == (1, 3, 1)
    clusters = evaluate(xref, pa.table({"record": ["a|1", "a|2", "b|1", "b|2"], "cluster": ["x", "y", "x", "y"]}))
    assert clusters.records == 4 and round(clusters.pairwise.precision, 3) == round(1 / 3, 3)
    with pytest.raises(ValidationError, match="several datasets"):
        evaluate(xref, pa.table({"l": ["1"], "r": ["2"]}))
    assert b_cubed(pa.table({"predicted": ["p", "p"], "truth": ["t", "t"]})).f1 == 1.0
