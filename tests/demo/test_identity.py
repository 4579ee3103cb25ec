"""Identifiers validate against checks written here independently of `urbanbrain.demo.identity`."""

from __future__ import annotations

import re

import numpy as np

from urbanbrain.demo import geo, identity

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def gb11643_ok(text: str) -> bool:
    """ISO 7064 MOD 11-2 as GB 11643 states it: weight of position i (from the left, 1-based) is 2^(18-i) mod 11."""
    if not re.fullmatch(r"\d{17}[\dX]", text):
        return False
    total = sum(int(text[i]) * (2 ** (17 - i) % 11) for i in range(17))
    expected = (12 - total % 11) % 11
    return text[17] == ("X" if expected == 10 else str(expected))


def gb32100_ok(text: str) -> bool:
    if len(text) != 18 or any(c not in USCC_ALPHABET for c in text):
        return False
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(text[:17], weights, strict=True))
    return USCC_ALPHABET.index(text[17]) == (31 - total % 31) % 31


def test_id_numbers_validate_and_carry_area_birth_and_sex() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    birth = np.datetime64("1940-01-01") + rng.integers(0, 30_000, n).astype("timedelta64[D]")
    male = rng.random(n) < 0.5
    codes = np.array([d.code for d in geo.districts()])[rng.integers(0, 9, n)]
    ids = identity.id_numbers(codes, birth, male, rng)
    assert all(gb11643_ok(x) for x in ids)
    assert any(x.endswith("X") for x in ids)  # the X check character does occur
    for x, c, b, m in zip(ids[:200], codes, birth, male, strict=False):
        assert x[:6] == c
        assert x[6:14] == str(b).replace("-", "")
        assert int(x[16]) % 2 == (1 if m else 0)
    assert not gb11643_ok(ids[0][:17] + ("0" if ids[0][17] != "0" else "1"))


def test_credit_codes_validate_and_carry_area() -> None:
    rng = np.random.default_rng(8)
    codes = identity.credit_codes(["430104"] * 3000, rng)
    assert all(gb32100_ok(c) for c in codes)
    assert all(c.startswith("91430104") for c in codes)
    assert all(identity.valid_credit_code(c) for c in codes)
    assert not gb32100_ok(codes[0][:17] + ("0" if codes[0][17] != "0" else "1"))


def test_mobiles_and_plates_look_real() -> None:
    rng = np.random.default_rng(9)
    assert all(re.fullmatch(r"1[3-9]\d{9}", m) for m in identity.mobiles(1000, rng))
    assert all(re.fullmatch(r"湘A([DF]\d{5}|[0-9A-HJ-NP-Z]{5})", p) for p in identity.plates(1000, rng))


def test_districts_come_from_cpca_with_real_codes() -> None:
    got = {d.code: d.name for d in geo.districts()}
    assert got == {"430102": "芙蓉区", "430103": "天心区", "430104": "岳麓区", "430105": "开福区", "430111": "雨花区",
                   "430112": "望城区", "430121": "长沙县", "430181": "浏阳市", "430182": "宁乡市"}
    furong = geo.district_by_code("430102")
    assert 112.9 < furong.lon < 113.2 and 28.0 < furong.lat < 28.4
