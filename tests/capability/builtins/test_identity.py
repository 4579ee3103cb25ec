"""ID numbers, credit codes and mobiles: known-good numbers computed independently here (not with the
module's own helpers), many kinds of bad input, and property tests over generated numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urbanbrain.capability.builtins.identity import validate_credit_code, validate_id_number, validate_mobile

# independent implementations of the two check characters, straight from the standards' formulas
_ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
REGIONS = ["430102", "430104", "430121", "430181", "430182", "110105", "310115", "440305", "650102"]


def id_number(region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    total = sum(int(c) * w for c, w in zip(body, _ID_W, strict=True))
    return body + "10X98765432"[total % 11]


def credit_code(head: str, region: str, org: str) -> str:
    body = head + region + org
    total = sum(_USCC.index(c) * w for c, w in zip(body, _USCC_W, strict=True))
    return body + _USCC[(31 - total % 31) % 31]


def ok(result: dict) -> bool:
    return bool(result["valid"]) and result["reasons"] == []


def test_published_examples() -> None:
    r = validate_id_number({"id_number": "11010519491231002X"})  # the GB 11643 example
    assert ok(r) and r["birth_date"] == "1949-12-31" and r["sex"] == "female" and r["district"] == "朝阳区"
    r = validate_credit_code({"credit_code": "91350100M000100Y43"})
    assert ok(r) and r["authority"] == "工商" and r["organisation_type"] == "企业" and r["city"] == "福州市"


def test_id_number_fields_and_lowercase_x() -> None:
    number = id_number("430104", date(1988, 2, 29), 123)
    r = validate_id_number({"id_number": number.lower()})
    assert ok(r)
    assert (r["province"], r["city"], r["district"]) == ("湖南省", "长沙市", "岳麓区")
    assert r["birth_date"] == "1988-02-29" and r["sex"] == "male" and r["sex_zh"] == "男" and not r["legacy"]
    spaced = validate_id_number({"id_number": f" {number[:6]} {number[6:14]} {number[14:]} "})
    assert ok(spaced)


def test_ningxiang_new_code_is_accepted() -> None:
    assert ok(validate_id_number({"id_number": id_number("430182", date(2018, 5, 1), 2)}))


@pytest.mark.parametrize(("number", "reason"), [
    ("", "expected 18"),
    ("43010419880229123", "expected 18"),
    ("4301041988022912345", "expected 18"),
    ("43010419880229A234", "expected 18"),
    ("9901021990010112", "expected 18"),
])
def test_id_number_malformed(number: str, reason: str) -> None:
    r = validate_id_number({"id_number": number})
    assert not r["valid"] and reason in r["reasons"][0]


def test_id_number_semantic_failures() -> None:
    future = date.today() + timedelta(days=400)
    cases = {
        id_number("990102", date(1990, 1, 1), 11): "region code 990102",
        id_number("430000", date(1990, 1, 1), 11): "region code 430000",
        id_number("430104", future, 11): "in the future",
        "430104" + "19890229" + "123" + "0": "not a calendar date",
        "430104" + "19901301" + "123" + "0": "not a calendar date",
    }
    for number, reason in cases.items():
        r = validate_id_number({"id_number": number})
        assert not r["valid"] and any(reason in x for x in r["reasons"]), (number, r["reasons"])
    good = id_number("430104", date(1990, 1, 1), 11)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    r = validate_id_number({"id_number": wrong})
    assert not r["valid"] and "check character" in r["reasons"][0] and r["birth_date"] == "1990-01-01"


def test_legacy_fifteen_digit_number() -> None:
    r = validate_id_number({"id_number": "430102880229123"})
    assert ok(r) and r["legacy"] and r["birth_date"] == "1988-02-29" and r["sex"] == "male"
    assert r["upgraded"] == id_number("430102", date(1988, 2, 29), 123)
    assert not validate_id_number({"id_number": "430102880230123"})["valid"]


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(REGIONS), born=st.dates(date(1900, 1, 1), date(2020, 12, 31)),
       seq=st.integers(0, 999), position=st.integers(0, 16), delta=st.integers(1, 9))
def test_property_valid_id_validates_and_any_digit_change_fails(region: str, born: date, seq: int, position: int,
                                                                delta: int) -> None:
    number = id_number(region, born, seq)
    assert ok(validate_id_number({"id_number": number}))
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert not validate_id_number({"id_number": changed})["valid"]  # MOD 11-2 catches every single substitution


@settings(max_examples=200, deadline=None)
@given(head=st.sampled_from(["91", "92", "93", "11", "12", "52", "53", "31", "Y1", "N2"]),
       region=st.sampled_from([*REGIONS, "100000"]),
       org=st.text(alphabet=_USCC, min_size=9, max_size=9), position=st.integers(0, 17), delta=st.integers(1, 30))
def test_property_valid_credit_code_validates_and_any_change_fails(head: str, region: str, org: str, position: int,
                                                                   delta: int) -> None:
    code = credit_code(head, region, org)
    assert ok(validate_credit_code({"credit_code": code})), code
    changed = code[:position] + _USCC[(_USCC.index(code[position]) + delta) % 31] + code[position + 1:]
    assert not validate_credit_code({"credit_code": changed})["valid"]


def test_credit_code_failures() -> None:
    good = credit_code("91", "430102", "MA4L12345")
    assert ok(validate_credit_code({"credit_code": good.lower()}))
    cases = {
        good[:17]: "expected 18",
        good[:5] + "I" + good[6:]: "not in the GB 32100 alphabet",
        good[:5] + "O" + good[6:]: "not in the GB 32100 alphabet",
        credit_code("B1", "430102", "MA4L12345"): "registration authority code B",
        credit_code("94", "430102", "MA4L12345"): "type code 4",
        credit_code("Y2", "430102", "MA4L12345"): "type code 2",
        credit_code("91", "990102", "MA4L12345"): "region code 990102",
    }
    for code, reason in cases.items():
        r = validate_credit_code({"credit_code": code})
        assert not r["valid"] and any(reason in x for x in r["reasons"]), (code, r["reasons"])


@pytest.mark.parametrize(("text", "carrier"), [
    ("13807311234", "中国移动"), ("+86 138-0731-1234", "中国移动"), ("0086 18673112345", "中国联通"),
    ("8613307311234", "中国电信"), ("199 0731 1234", "中国电信"), ("１３９０７３１１２３４", "中国移动"),
    ("(+86) 192-0000-1111", "中国广电"), ("17012345678", "虚拟运营商"),
])
def test_mobile_valid(text: str, carrier: str) -> None:
    r = validate_mobile({"mobile": text})
    assert ok(r) and r["carrier"] == carrier and len(r["mobile"]) == 11


@pytest.mark.parametrize(("text", "reason"), [
    ("1380731123", "expected 11"), ("138073112345", "expected 11"), ("12345678901", "start with 13-19"),
    ("23807311234", "start with 13-19"), ("14012345678", "segment 140"), ("16012345678", "segment 160"),
    ("1380731123a", "digits only"), ("+1 650 253 0000", "digits only"),
])
def test_mobile_invalid(text: str, reason: str) -> None:
    r = validate_mobile({"mobile": text})
    assert not r["valid"] and reason in r["reasons"][0], r
