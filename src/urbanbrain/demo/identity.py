"""Identifiers with real structure: resident ID numbers, unified social credit codes, mobiles, plates.

Entity resolution and PII detection are only tested honestly on identifiers that validate: an ID
number whose GB 11643 check character is right, a credit code whose GB 32100 check character is
right. Everything is vectorised (numpy over character matrices), because `large` makes millions.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> all(valid_id_number(x) for x in id_numbers(["430102"] * 3, np.array(["1990-05-01"] * 3, dtype="datetime64[D]"),
...                                              np.array([True, False, True]), rng))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)])
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714 organisation code
MOBILE_PREFIXES = np.array([134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 178, 182, 183, 184,
                            187, 188, 198, 130, 131, 132, 155, 156, 166, 175, 176, 185, 186, 133, 149, 153, 173,
                            177, 180, 181, 189, 191, 199])
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O


def _join(codes: np.ndarray) -> list[str]:
    """An (n, k) matrix of ASCII codes -> n strings, without a Python loop over characters."""
    width = codes.shape[1]
    return np.ascontiguousarray(codes.astype(np.uint8)).view(f"S{width}").ravel().astype(f"U{width}").tolist()


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers) % 10


def id_numbers(area_codes: Sequence[str] | np.ndarray, birth: np.ndarray, male: np.ndarray,
               rng: np.random.Generator) -> list[str]:
    """18-digit resident ID numbers: area code, birth date, sequence (odd for men), GB 11643 check.

    Sequence numbers are random, so two people born the same day in the same district may (rarely)
    collide; callers that need uniqueness de-duplicate (see `people.persons`).
    """
    n = len(birth)
    area = np.asarray(area_codes, dtype=np.int64)
    days = birth.astype("datetime64[D]")
    years = days.astype("datetime64[Y]").astype(int) + 1970
    months = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    ymd = years * 10000 + months * 100 + dom
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)
    body = np.concatenate([_digits(area, 6), _digits(ymd, 8), _digits(seq, 3)], axis=1)
    check = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[(body * ID_WEIGHTS).sum(axis=1) % 11]
    return _join(np.concatenate([body + 48, check[:, None]], axis=1))


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * int(w) for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def valid_id_number(text: str) -> bool:
    return len(text) == 18 and text[:17].isdigit() and id_check_char(text[:17]) == text[17].upper()


def credit_codes(area_codes: Sequence[str] | np.ndarray, rng: np.random.Generator) -> list[str]:
    """Unified social credit codes (统一社会信用代码): 9 (industry & commerce) + type 1 (enterprise)
    + 6-digit area + 9-character organisation code (with its GB 11714 check) + GB 32100 check."""
    n = len(area_codes)
    area = _digits(np.asarray(area_codes, dtype=np.int64), 6)
    org_body = rng.integers(0, 10, (n, 8))
    letters = rng.random(n) < 0.3  # some organisation codes start with a letter (values 10..30)
    org_body[letters, 0] = rng.integers(10, 31, int(letters.sum()))
    c9 = 11 - (org_body * ORG_WEIGHTS).sum(axis=1) % 11
    org_check = np.where(c9 == 11, 0, c9)  # 10 ('X' in GB 11714) is not a USCC character: use 'A' (10) instead
    head = np.column_stack([np.full(n, 9), np.full(n, 1)])
    body = np.concatenate([head, area, org_body, org_check[:, None]], axis=1)
    check = (31 - (body * USCC_WEIGHTS).sum(axis=1) % 31) % 31
    table = np.frombuffer(USCC_CHARS.encode(), dtype=np.uint8)
    return _join(table[np.concatenate([body, check[:, None]], axis=1)])


def valid_credit_code(text: str) -> bool:
    if len(text) != 18 or any(c not in USCC_CHARS for c in text):
        return False
    values = [USCC_CHARS.index(c) for c in text]
    return (31 - sum(v * int(w) for v, w in zip(values[:17], USCC_WEIGHTS, strict=True)) % 31) % 31 == values[17]


def mobiles(n: int, rng: np.random.Generator) -> list[str]:
    """Mobile numbers with real carrier prefixes (China Mobile, Unicom, Telecom)."""
    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)]
    rest = rng.integers(0, 100_000_000, n)
    return _join(np.concatenate([_digits(prefix, 3), _digits(rest, 8)], axis=1) + 48)


def plates(n: int, rng: np.random.Generator) -> list[str]:
    """Changsha plates: 湘A + five characters, or 湘A + D/F + five digits for new-energy cars."""
    letters = np.frombuffer(PLATE_LETTERS.encode(), dtype=np.uint8)
    body = _digits(rng.integers(0, 100_000, n), 5) + 48
    lettered = rng.random((n, 2)) < 0.35
    body[:, 0] = np.where(lettered[:, 0], letters[rng.integers(0, len(letters), n)], body[:, 0])
    body[:, 2] = np.where(lettered[:, 1], letters[rng.integers(0, len(letters), n)], body[:, 2])
    green = rng.random(n) < 0.15
    tail = [("D" if k % 2 else "F") + s for k, s in enumerate(_join(_digits(rng.integers(0, 100_000, n), 5) + 48))]
    return ["湘A" + (t if g else s) for s, t, g in zip(_join(body), tail, green.tolist(), strict=True)]
