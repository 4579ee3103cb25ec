"""Department views differ from the truth in realistic ways, yet every row keeps its truth link."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from urbanbrain.demo import enterprises, geo, people


def _world(seed: int = 1) -> tuple:
    rng = np.random.default_rng(seed)
    addresses = geo.addresses(500, rng)
    firms = enterprises.enterprises(200, addresses, rng)
    persons = people.persons(1000, addresses, firms.column("enterprise_id").to_pylist(), rng)
    return rng, addresses, firms, persons


def test_person_view_varies_but_links_back() -> None:
    rng, addresses, _, persons = _world()
    view = people.person_view(persons, addresses, rng, name_typo=1.0, stale_phone=1.0, no_phone=0.0,
                              no_address=0.0, styles=(1, 2, 3, 4, 5))
    truth = {r["person_id"]: r for r in persons.to_pylist()}
    assert view.num_rows == persons.num_rows
    for row in view.to_pylist():
        real = truth[row["__person_id"]]
        assert row["name"] != real["name"]  # every name got a typo
        assert row["id_number"] == real["id_number"] or row["id_number"][:6] == real["id_number"][:6]
        assert row["phone"] == (real["old_phone"] or real["phone"])  # stale where an old number exists
        standard = addresses.filter(pc.equal(addresses.column("address_id"), row["__address_id"]))
        assert row["address"] != standard.column("standard")[0].as_py()
        assert row["__address_id"] == real["address_id"]


def test_person_view_shares_and_missing_fields() -> None:
    rng, addresses, _, persons = _world(2)
    view = people.person_view(persons, addresses, rng, share=0.3, no_phone=0.5, no_address=0.2)
    assert 200 < view.num_rows < 400
    assert 0.35 < view.column("phone").null_count / view.num_rows < 0.65
    assert view.column("address").null_count > 0
    assert len(set(view.column("__person_id").to_pylist())) == view.num_rows


def test_enterprise_view_varies_names_and_drops_codes() -> None:
    rng, addresses, firms, _ = _world(3)
    view = enterprises.enterprise_view(firms, addresses, rng, name_variation=1.0, no_code=0.5)
    truth = {r["enterprise_id"]: r for r in firms.to_pylist()}
    assert all(r["name"] != truth[r["__enterprise_id"]]["name"] for r in view.to_pylist())
    assert all(r["credit_code"] in (None, truth[r["__enterprise_id"]]["credit_code"]) for r in view.to_pylist())
    assert view.column("credit_code").null_count > 50


def test_generation_is_deterministic_for_a_seed() -> None:
    a = _world(5)[3]
    b = _world(5)[3]
    assert a.equals(b)
