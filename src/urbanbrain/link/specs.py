"""The linkage model of each entity kind: comparisons, blocking rules and thresholds for Chinese data.

People: the resident ID number decides when both sides have it (exact, or one transposition apart);
names compare by characters, then by pinyin (homophones), then by Jaro-Winkler on pinyin (a dropped or
swapped character); birth date, mobile and address add evidence. Organisations: the unified social
credit code, the firm-name core (region and legal form stripped), the legal form and the address.
Addresses: the standardised components from the address built-in, blocked on the dwelling (road +
number + building + room); a record naming only the house is attached by rule (`houses`).

Blocking keeps comparisons close to linear in the number of records: every rule is an exact key or a
combination whose blocks hold a handful of records however large the city (birth date + name pinyin;
surname + birth date + road). Exact-name blocks are avoided: 王伟 alone fills a block; so is birth date +
surname, measured at 25x the comparisons for 10x the records (王 and 李 on one day fill a block).
"""

from __future__ import annotations

from typing import Any

from urbanbrain.link.houses import house_pairs
from urbanbrain.link.model import ModelSpec


def _name_comparison() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(output_column_name="name", comparison_levels=[
        cll.NullLevel("name"),
        cll.ExactMatchLevel("name"),
        cll.ExactMatchLevel("name_py").configure(label_for_charts="same pinyin (homophone)"),
        cll.CustomLevel("jaro_winkler_similarity(name_py_l, name_py_r) >= 0.88 OR "
                        "list_sort(string_split(name_l, '')) = list_sort(string_split(name_r, '')) OR "
                        "(length(name_l) >= 2 AND length(name_r) >= 2 AND "
                        "(starts_with(name_l, name_r) OR starts_with(name_r, name_l)))",
                        label_for_charts="close pinyin, same characters or a dropped last character"),
        cll.ElseLevel(),
    ])


def _address_comparison(*, with_room: bool) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list[Any] = [cll.CustomLevel("addr_road_l IS NULL OR addr_road_r IS NULL").configure(is_null_level=True),
              cll.ExactMatchLevel("address_std")]
    if with_room:
        levels.append(cll.CustomLevel("addr_house_l = addr_house_r AND addr_room_l = addr_room_r",
                                      label_for_charts="same house and room"))
    levels += [cll.ExactMatchLevel("addr_house").configure(label_for_charts="same road and house number"),
               cll.ExactMatchLevel("addr_road"), cll.ElseLevel()]
    return cl.CustomComparison(output_column_name="address", comparison_levels=levels)


def _person_comparisons() -> list[Any]:
    import splink.comparison_library as cl

    return [
        cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
        _name_comparison(),
        cl.ExactMatch("birth_date"),
        cl.ExactMatch("phone"),
        cl.ExactMatch("sex"),
        _address_comparison(with_room=True),
    ]


def _organisation_comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    core = cl.CustomComparison(output_column_name="name_core", comparison_levels=[
        cll.NullLevel("name_core"),
        cll.ExactMatchLevel("name_core"),
        cll.ExactMatchLevel("name_core_py"),
        cll.JaroWinklerLevel("name_core", 0.9),
        cll.ElseLevel(),
    ])
    return [cl.DamerauLevenshteinAtThresholds("credit_code", [1, 2]), core, cl.ExactMatch("legal_form"),
            cl.ExactMatch("phone"), _address_comparison(with_room=False)]


def _address_kind_comparisons() -> list[Any]:
    import splink.comparison_library as cl

    return [cl.ExactMatch("addr_district"), cl.ExactMatch("addr_road"), cl.ExactMatch("addr_number"),
            cl.ExactMatch("addr_building"), cl.ExactMatch("addr_unit"), cl.ExactMatch("addr_room")]


PERSON = ModelSpec(
    name="person", comparisons=_person_comparisons,
    blocking=(("id_number",), ("phone",), ("birth_date", "name_py"), ("name_py", "addr_house"),
              ("surname_py", "birth_date", "addr_road")),
    training_blocks=(("birth_date", "name_py"), ("id_number",)),
    prior_rules=(("id_number",), ("name", "birth_date")),
    u_dedupe=("id_number", "phone"),
)
ORGANISATION = ModelSpec(
    name="organisation", comparisons=_organisation_comparisons,
    blocking=(("credit_code",), ("name_core",), ("addr_house", "legal_form")),
    training_blocks=(("name_core",), ("credit_code",)),
    prior_rules=(("credit_code",), ("name_core", "legal_form")),
    u_dedupe=("credit_code", "name_core"),
)
ADDRESS = ModelSpec(
    name="address", comparisons=_address_kind_comparisons,
    # a dwelling key, not the house: flats of one building share road + number, and records naming only
    # the house are attached to one dwelling by `houses.house_pairs` instead of linking to every flat
    blocking=(("addr_road", "addr_number", "addr_building", "addr_room"),),
    # every EM block is one dwelling key with one component swapped, so its blocks hold a few dwellings
    # however large the city or its buildings; the house (road + number) or the road (district + road)
    # grows with the square of the flats per house (75 M pairs and out of memory on the small demo)
    training_blocks=(("addr_road", "addr_number", "addr_building", "addr_room"),  # district, unit
                     ("addr_district", "addr_road", "addr_number", "addr_room"),  # building
                     ("addr_district", "addr_road", "addr_building", "addr_room"),  # number
                     ("addr_district", "addr_number", "addr_building", "addr_room"),  # road
                     ("addr_district", "addr_road", "addr_number", "addr_building", "addr_unit")),  # room
    prior_rules=(("addr_road", "addr_number", "addr_building", "addr_room"),),
    rule_pairs=house_pairs,
)
SPECS = {"person": PERSON, "organisation": ORGANISATION, "address": ADDRESS}
