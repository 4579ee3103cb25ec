"""Guess which columns of a dataset fill which fields of a kind, and say why.

Column names first (English and the Chinese headers of exports, after folding case, spaces and dashes:
`Street Address`, `addr`, `地址` all mean an address), then value patterns on a sample of the data
(phone numbers, e-mail addresses, dates, coordinates, street addresses, resident ID numbers, credit
codes). A person's first and last name columns together fill `name`. Every choice carries its reason;
the steward overrides any of them with `urbanbrain link map KIND DATASET --column field=column`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from urbanbrain.link.kinds import KindDef

SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full_name", "fullname", "姓名", "名称", "企业名称", "单位名称", "商户名称", "店名", "经营者"),
    "first_name": ("first_name", "firstname", "given_name", "givenname", "forename", "名"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "姓"),
    "id_number": ("id_number", "national_id", "身份证号", "身份证号码", "身份证", "soc_sec_id", "ssn"),
    "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
    "birth_date": ("birth_date", "dob", "date_of_birth", "birthdate", "出生日期"),
    "phone": ("phone", "telephone", "tel", "mobile", "phone_number", "联系电话", "电话", "手机", "手机号"),
    "email": ("email", "e_mail", "mail", "邮箱", "电子邮件"),
    "address": ("address", "addr", "street", "street_address", "address_1", "地址", "住址", "家庭住址", "通信地址",
                "暂住地址", "经营地点"),
    "city": ("city", "town", "suburb", "locality", "城市", "市"),
    "postcode": ("postcode", "zip", "zipcode", "zip_code", "postal_code", "邮编", "邮政编码"),
    "sex": ("sex", "gender", "性别"),
    "category": ("category", "type", "cuisine", "industry", "类别", "类型", "行业"),
    "website": ("website", "url", "web", "homepage", "网址"),
}
TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "address": SYNONYMS["address"], "phone": SYNONYMS["phone"], "email": SYNONYMS["email"],
    "geo": ("location", "coordinates", "latlon", "lat_lon", "geo", "point", "坐标", "经纬度"),
}
PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "email": (re.compile(r"^[^@\s]+@[^@\s]+\.\w+$"), "e-mail addresses"),
    "geo": (re.compile(r"^\s*-?\d{1,3}\.\d+\s*[,; ]\s*-?\d{1,3}\.\d+\s*$"), "coordinates"),
    "date": (re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{4}年\d{1,2}月\d{1,2}日)"),
             "dates"),
    "phone": (re.compile(r"^\+?[\d\s\-/().]{7,20}$"), "phone numbers"),
    "address": (re.compile(r"(^\d+[a-z]?\s+\S+.*\b(st|ave|blvd|blv|rd|dr|ln|way|pl|ct|street|avenue|road|"
                           r"boulevard|drive|lane|place|court|hwy|highway)\b)|[路街道巷弄].*号", re.IGNORECASE),
                "street addresses"),
    "id_number": (re.compile(r"^\d{17}[\dXx]$"), "resident ID numbers"),
    "credit_code": (re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"), "credit codes"),
}


def fold_column(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def _share(values: Sequence[Any], pattern: re.Pattern[str]) -> float:
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not texts:
        return 0.0
    hits = sum(1 for t in texts if pattern.search(t) and (pattern is not PATTERNS["phone"][0]
                                                           or len(re.sub(r"\D", "", t)) >= 7))
    return hits / len(texts)


def propose_columns(kind: KindDef, columns: list[str], samples: dict[str, list[Any]] | None = None,
                    exclude: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, str]]:
    """(field -> source, field -> reason) for `kind` over `columns`; `samples` holds some values per column."""
    folded = {fold_column(c): c for c in columns if c not in exclude}
    used: set[str] = set()
    found: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for fld, ctype in kind.fields.items():
        names = (fld, *SYNONYMS.get(fld, ()), *TYPE_SYNONYMS.get(ctype, ()))
        col = next((folded[fold_column(n)] for n in names if fold_column(n) in folded
                    and folded[fold_column(n)] not in used), None)
        if col is not None:
            found[fld], reasons[fld] = col, f"column name {col!r} means {fld}"
            used.add(col)
    if samples:
        for fld, ctype in kind.fields.items():
            if fld in found:
                continue
            key = fld if fld in PATTERNS else ctype
            if key not in PATTERNS:
                continue
            pattern, what = PATTERNS[key]
            best = max(((c, _share(samples.get(c, []), pattern)) for c in folded.values() if c not in used),
                       key=lambda cs: cs[1], default=(None, 0.0))
            if best[0] is not None and best[1] >= 0.6:
                found[fld], reasons[fld] = best[0], f"{best[1]:.0%} of the values of {best[0]!r} look like {what}"
                used.add(best[0])
    if "name" in kind.fields and "name" not in found and "first_name" in found and "last_name" in found:
        found["name"] = [found["first_name"], found["last_name"]]
        reasons["name"] = f"first and last name joined ({found['first_name']} + {found['last_name']})"
    return found, reasons


def sample_values(dataset: str, columns: list[str], rows: int = 200) -> dict[str, list[Any]]:
    """Up to `rows` values per column, read as SYSTEM (the proposal is the platform's own work)."""
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident

    table = ".".join(quote_ident(p) for p in dataset.split("."))
    cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
    result = run_query(f"SELECT {cols} FROM {table} LIMIT {int(rows)}", principal=SYSTEM)
    return {c: result.table.column(c).to_pylist() for c in columns}
