"""Chinese-aware features for linking: names and their pinyin, firm-name cores, address components.

Departments differ in predictable ways (see the demo's `people.typo` and `enterprises.name_variant`):
a homophone in a name (张/章 are both zhang), a dropped or swapped character, 长沙 vs 长沙市, 有限公司
vs 有限责任公司, half- and full-width brackets, an address with or without province and building.
Each feature undoes one of these, so the comparisons in `specs` can stay simple exact/fuzzy levels.

Values are computed per distinct input with caches: a million records carry far fewer distinct names
and addresses, and pypinyin and the address parser cost ~25 µs a call.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

import pyarrow as pa

from urbanbrain.reference.addresses import parse, road_core, standard_text
from urbanbrain.reference.identifiers import _clean, credit_check_char, id_check_char

_SPACES = re.compile(r"\s+")
_BRACKETS = str.maketrans("（）【】[]", "()()()")
# the city a registry serves, with or without 市 and its province (a brand may end in 市, so no wildcard)
_REGION_PREFIX = re.compile(r"^(?:湖南省|湖南)?(?:长沙市|长沙)?")
_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "个人独资企业", "合伙企业", "分公司", "公司")
CACHE_SIZE = 1 << 20


@lru_cache(maxsize=1 << 16)
def _char_pinyin(char: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(char)) if "\u4e00" <= char <= "\u9fff" else char.lower()


def clean_name(text: str | None) -> str | None:
    """Spaces removed, brackets half-width: 王 伟 and 王伟 are one name."""
    if text is None:
        return None
    out = _SPACES.sub("", str(text)).translate(_BRACKETS)
    return out or None


def pinyin(text: str | None) -> str | None:
    """Toneless pinyin without separators (张伟 -> zhangwei): homophone typos compare equal."""
    if not text:
        return None
    return "".join(_char_pinyin(c) for c in text) or None


def surname_pinyin(text: str | None) -> str | None:
    return _char_pinyin(text[0]) if text else None


def id_number(text: str | None) -> str | None:
    cleaned = _clean(str(text)) if text else ""
    return cleaned or None


def valid_id(text: str | None) -> bool:
    return bool(text) and len(text or "") == 18 and str(text)[:17].isdigit() and \
        id_check_char(str(text)[:17]) == str(text)[17]


def birth_from_id(text: str | None) -> str | None:
    """The birth date inside a valid resident ID number (characters 7-14), as ISO text."""
    if not text or not valid_id(text):
        return None
    try:
        return date(int(text[6:10]), int(text[10:12]), int(text[12:14])).isoformat()
    except ValueError:
        return None


def credit_code(text: str | None) -> str | None:
    cleaned = _clean(str(text)) if text else ""
    return cleaned or None


def valid_credit_code(text: str | None) -> bool:
    try:
        return bool(text) and len(text or "") == 18 and credit_check_char(str(text)[:17]) == str(text)[17]
    except ValueError:  # a character outside GB 32100's alphabet
        return False


def phone(text: str | None) -> str | None:
    """The last 11 digits of a mobile (drops +86, spaces and dashes); anything shorter as written."""
    if not text:
        return None
    digits = re.sub(r"\D", "", str(text).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    return (digits[-11:] if len(digits) >= 11 else digits) or None


@lru_cache(maxsize=CACHE_SIZE)
def firm_parts(text: str | None) -> tuple[str | None, str | None]:
    """(core, legal form) of a firm name: 长沙市湘岳科技有限责任公司 -> (湘岳科技, 有限责任公司).

    Region prefixes and brackets around them are dropped; the legal form is kept apart because
    有限公司 and 有限责任公司 are written for one another, while a different core means another firm.
    """
    name = clean_name(text)
    if not name:
        return None, None
    name = re.sub(r"\(([^()]{1,6})\)", r"\1", name)  # 长沙(湘岳)科技 -> 长沙湘岳科技
    form = next((f for f in _LEGAL_FORMS if name.endswith(f)), None)
    core = name[: -len(form)] if form else name
    core = _REGION_PREFIX.sub("", core) or core
    if form in ("有限责任公司", "有限公司", "公司"):
        form = "有限公司"
    return core or None, form


def address_parts(text: str | None) -> dict[str, Any]:
    """Standardised components of an address (via the address built-in), with the road's core, parsed
    for the city the platform serves (setting `city_code`)."""
    from urbanbrain.link.kinds import city_code

    return _address_parts(text, city_code() or "430100")


@lru_cache(maxsize=CACHE_SIZE)
def _address_parts(text: str | None, city: str) -> dict[str, Any]:
    if not text or not str(text).strip():
        return {}
    parts = parse(str(text), city)
    out = {k: parts.get(k) for k in ("district", "street", "number", "building", "unit", "room")}
    out["road"] = road_core(parts["road"]) if parts.get("road") else None
    # the golden record shows this form: the road as written (五一大道), without province and city
    out["standard"] = standard_text({**parts, "province": None, "city": None, "detail": None}) or None
    return out


def _col(table: pa.Table, name: str) -> list[Any]:
    if name not in table.column_names:
        return [None] * table.num_rows
    return [None if v is None or (isinstance(v, str) and not v.strip()) else v
            for v in table.column(name).to_pylist()]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _address_columns(values: list[Any]) -> dict[str, list[Any]]:
    parts = [address_parts(_text(v)) for v in values]
    road = [p.get("road") for p in parts]
    number = [p.get("number") for p in parts]
    return {
        "address_std": [p.get("standard") for p in parts],
        "addr_district": [p.get("district") for p in parts],
        "addr_road": road,
        "addr_number": [None if n is None else str(n) for n in number],
        "addr_house": [f"{r}|{n}" if r and n is not None else None for r, n in zip(road, number, strict=True)],
        "addr_building": [None if p.get("building") is None else str(p["building"]) for p in parts],
        "addr_unit": [None if p.get("unit") is None else str(p["unit"]) for p in parts],
        "addr_room": [None if p.get("room") is None else str(p["room"]) for p in parts],
    }


def person_features(table: pa.Table) -> dict[str, list[Any]]:
    """name, name_py, surname_py, id_number, id_valid, birth_date, phone, sex and address parts."""
    names = [clean_name(_text(v)) for v in _col(table, "name")]
    ids = [id_number(_text(v)) for v in _col(table, "id_number")]
    births = []
    for raw, ident in zip(_col(table, "birth_date"), ids, strict=True):
        text = _text(raw)
        births.append(text[:10].replace("/", "-") if text else birth_from_id(ident))
    return {
        "name": names, "name_py": [pinyin(n) for n in names], "surname_py": [surname_pinyin(n) for n in names],
        "id_number": ids, "id_valid": [valid_id(i) for i in ids], "birth_date": births,
        "phone": [phone(_text(v)) for v in _col(table, "phone")],
        "sex": [_text(v) for v in _col(table, "sex")],
        **_address_columns(_col(table, "address")),
    }


def organisation_features(table: pa.Table) -> dict[str, list[Any]]:
    """name, name_core, name_core_py, legal_form, credit_code, phone and address parts."""
    names = [clean_name(_text(v)) for v in _col(table, "name")]
    parts = [firm_parts(n) for n in names]
    codes = [credit_code(_text(v)) for v in _col(table, "credit_code")]
    return {
        "name": names, "name_core": [p[0] for p in parts], "name_core_py": [pinyin(p[0]) for p in parts],
        "legal_form": [p[1] for p in parts], "credit_code": codes,
        "credit_valid": [valid_credit_code(c) for c in codes],
        "phone": [phone(_text(v)) for v in _col(table, "phone")],
        **_address_columns(_col(table, "address")),
    }


def address_features(table: pa.Table) -> dict[str, list[Any]]:
    """Standardised components only: district, road core, number, building, unit, room."""
    return _address_columns(_col(table, "address"))


FEATURES = {"person": person_features, "organisation": organisation_features, "address": address_features}
