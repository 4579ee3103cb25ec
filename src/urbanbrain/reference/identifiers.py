"""Resident ID numbers, unified social credit codes and mobile numbers: check characters and validation.

Shared by governance (PII detection), One ID (normalisation) and the identity built-ins, so it lives
below all of them.

Every department checks these identifiers at its counter, each with its own half-right regex; one
shared capability (`capability/builtins/identity.py`) answers with the standard's reasons (GB 11643,
GB 32100) rather than a bare yes/no, so a rejected form can tell the resident *what* is wrong. Region
codes are checked against the division dictionary shipped with `cpca`: an ID number from a district
that never existed is a typo even when its check digit happens to be right.

Each answer is `{"valid": bool, "reasons": [...], ...parsed fields}`; parsed fields are filled as far
as the input allows, so a caller sees the birth date even when only the check digit is wrong.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from urbanbrain.core.clock import utcnow
from urbanbrain.reference.divisions import divisions, region_names

ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # ISO 7064 MOD 11-2: 7 9 10 5 8 4 2 1 6 3 ...
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: digits and letters except I, O, S, V, Z
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# GB 32100 annex: registration authority -> its organisation types
USCC_AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": ("司法行政", {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构",
                   "5": "仲裁委员会", "9": "其他"}),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": ("旅游", {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"}),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}
# Number segments (first three digits) allocated to each operator, including their virtual operators.
CARRIERS: dict[str, tuple[int, ...]] = {
    "中国移动": (134, 135, 136, 137, 138, 139, 147, 148, 150, 151, 152, 157, 158, 159, 165, 172, 178, 182, 183, 184,
             187, 188, 195, 197, 198),
    "中国联通": (130, 131, 132, 145, 146, 155, 156, 166, 167, 171, 175, 176, 185, 186, 196),
    "中国电信": (133, 149, 153, 162, 173, 174, 177, 180, 181, 189, 190, 191, 193, 199),
    "中国广电": (192,),
    "虚拟运营商": (170,),
}
CARRIER_EN = {"中国移动": "China Mobile", "中国联通": "China Unicom", "中国电信": "China Telecom",
              "中国广电": "China Broadnet", "虚拟运营商": "virtual operator"}
NATIONAL = "100000"  # organisations registered by national authorities carry this region code
PREFIX_CARRIER = {str(p): c for c, prefixes in CARRIERS.items() for p in prefixes}
_SEPARATORS = re.compile(r"[\s\-–—()（）.]")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９ｘＸ＋", "0123456789xX+")


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def credit_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def clean(text: str) -> str:
    """Full-width digits made ASCII, separators removed, upper case."""
    return _clean(text)


def _clean(text: str) -> str:
    return _SEPARATORS.sub("", text.translate(_FULL_WIDTH)).upper()


def _birth(ymd: str, reasons: list[str]) -> date | None:
    try:
        born = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))
    except ValueError:
        reasons.append(f"birth date {ymd} is not a calendar date")
        return None
    if born > utcnow().date():
        reasons.append(f"birth date {born.isoformat()} is in the future")
    elif born.year < 1880:
        reasons.append(f"birth date {born.isoformat()} is implausibly early")
    return born


def _region(code: str, reasons: list[str], what: str) -> dict[str, str | None]:
    if code not in divisions() or code.endswith("0000"):
        reasons.append(f"{what} {code} is not a city or county-level division code")
        return {"province": None, "city": None, "district": None}
    return region_names(code)


def validate_id_number(params: dict[str, Any]) -> dict[str, Any]:
    """GB 11643: 6-digit region, 8-digit birth date, 3-digit sequence (odd for men), check character;
    15-digit numbers (issued before 1999: 2-digit year, no check digit) are accepted and marked legacy."""
    text = _clean(str(params["id_number"]))
    reasons: list[str] = []
    out: dict[str, Any] = {"id_number": text, "legacy": False}
    if len(text) == 15 and text.isdigit():
        out["legacy"] = True
        body = text[:6] + "19" + text[6:15]
        out["upgraded"] = body + id_check_char(body)
        ymd, seq = body[6:14], text[12:15]
    elif len(text) == 18 and text[:17].isdigit() and (text[17].isdigit() or text[17] == "X"):
        ymd, seq = text[6:14], text[14:17]
        expected = id_check_char(text[:17])
        if expected != text[17]:
            reasons.append(f"check character is {text[17]}, the MOD 11-2 check of the first 17 digits is {expected}")
    else:
        reasons.append(f"expected 18 characters (17 digits, then a digit or X) or 15 digits, got {text!r}")
        return {**out, "valid": False, "reasons": reasons}
    out["region_code"] = text[:6]
    out.update(_region(text[:6], reasons, "region code"))
    born = _birth(ymd, reasons)
    out["birth_date"] = born.isoformat() if born else None
    out["sex"] = "male" if int(seq[-1]) % 2 else "female"
    out["sex_zh"] = "男" if out["sex"] == "male" else "女"
    return {"valid": not reasons, "reasons": reasons, **out}


def validate_credit_code(params: dict[str, Any]) -> dict[str, Any]:
    """GB 32100: authority (1) + type (1) + region (6) + organisation code (9) + MOD 31 check (1)."""
    text = _clean(str(params["credit_code"]))
    reasons: list[str] = []
    out: dict[str, Any] = {"credit_code": text}
    if len(text) != 18:
        reasons.append(f"expected 18 characters, got {len(text)}")
        return {"valid": False, "reasons": reasons, **out}
    bad = sorted({c for c in text if c not in USCC_CHARS})
    if bad:
        reasons.append(f"characters {''.join(bad)} are not in the GB 32100 alphabet (digits and letters "
                       "except I, O, S, V, Z)")
    else:
        expected = credit_check_char(text[:17])
        if expected != text[17]:
            reasons.append(f"check character is {text[17]}, the MOD 31 check of the first 17 is {expected}")
    authority = USCC_AUTHORITIES.get(text[0])
    out["authority_code"], out["type_code"] = text[0], text[1]
    out["authority"], out["organisation_type"] = (authority[0] if authority else None), None
    if authority is None:
        reasons.append(f"registration authority code {text[0]} is not defined in GB 32100")
    elif text[1] not in authority[1]:
        reasons.append(f"type code {text[1]} is not defined for authority {text[0]} ({authority[0]}); "
                       f"allowed: {', '.join(authority[1])}")
    else:
        out["organisation_type"] = authority[1][text[1]]
    region = text[2:8]
    out["region_code"] = region
    if region == NATIONAL:
        out.update({"province": None, "city": None, "district": None})
    elif region.isdigit() and region in divisions():
        out.update(region_names(region))
    else:
        reasons.append(f"region code {region} is not a division code")
        out.update({"province": None, "city": None, "district": None})
    out["organisation_code"] = text[8:17]
    return {"valid": not reasons, "reasons": reasons, **out}


def validate_mobile(params: dict[str, Any]) -> dict[str, Any]:
    """Mainland mobile numbers: 11 digits starting 1[3-9], on a segment allocated to an operator.
    A +86/0086/86 country prefix, spaces, dashes and brackets are stripped first."""
    text = _clean(str(params["mobile"]))
    reasons: list[str] = []
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if len(text) == 13 and text.startswith("86"):
        text = text[2:]
    out: dict[str, Any] = {"mobile": text, "carrier": None, "carrier_en": None}
    if not text.isdigit():
        reasons.append("a mobile number has digits only (after removing +86, spaces and dashes)")
    elif len(text) != 11:
        reasons.append(f"expected 11 digits, got {len(text)}")
    elif not re.match(r"^1[3-9]", text):
        reasons.append(f"mobile numbers start with 13-19, this starts with {text[:2]}")
    else:
        carrier = PREFIX_CARRIER.get(text[:3])
        if carrier is None:
            reasons.append(f"segment {text[:3]} is not allocated to a mobile operator")
        else:
            out["carrier"], out["carrier_en"] = carrier, CARRIER_EN[carrier]
    return {"valid": not reasons, "reasons": reasons, **out}
