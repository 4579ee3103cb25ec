"""PII detection: propose a PII type for a column from a sample of its values.

Each detector says whether one value looks like its type; a column gets the type whose detector
accepts the largest share of its non-empty sample, if that share clears the detector's threshold.
Checksums do most of the work (resident ID MOD 11-2, credit code MOD 31, bank card Luhn), so random
digits rarely pass; the looser types (names, addresses, coordinates) also need a hint from the
column's name. Proposals are only proposals: a steward confirms them (`classification`).

>>> propose_column("sfzh", ["430102199001011238", "430102198502140025", None]).pii_type
'resident_id'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from urbanbrain.reference.identifiers import (
    USCC_AUTHORITIES,
    USCC_CHARS,
    credit_check_char,
    id_check_char,
    validate_mobile,
)

PII_TYPES = ("resident_id", "mobile", "landline", "email", "bank_card", "plate", "credit_code", "passport",
             "person_name", "address", "coordinates")
SAMPLE_ROWS = 500

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_LANDLINE = re.compile(r"^(\(?0\d{2,3}\)?[-\s]?)\d{7,8}(-\d{1,5})?$")
_PLATE = re.compile(r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
                    r"[A-HJ-NP-Z]·?(?:[A-HJ-NP-Z0-9]{5}|[DF][A-HJ-NP-Z0-9]{5}|[A-HJ-NP-Z0-9]{5}[DF]"
                    r"|[A-HJ-NP-Z0-9]{4}[挂学警港澳])$")
_PASSPORT = re.compile(r"^(?:[EGDSPH]\d{8}|E[A-HJ-NP-Z]\d{7})$")
_HAN_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}(?:·[\u4e00-\u9fff]{1,8})?$")
_ZH_ADDRESS = re.compile(r"[\u4e00-\u9fff]{2,}(?:省|市|区|县|镇|乡|街道).*(?:路|街|巷|道|弄|村|号|栋|室)")
_EN_ADDRESS = re.compile(r"^\d+[A-Z]?\s+(?:[NSEW]\s+)?[A-Z0-9.' -]+?\s(?:ST|AVE|BLVD|RD|DR|LN|WAY|CT|PL|TER|HWY|"
                         r"PKWY|CIR|SQ|STREET|AVENUE|ROAD|DRIVE|LANE|COURT|PLACE|ALY|ROW)\b", re.IGNORECASE)
_POINT = re.compile(r"^\(?\s*(-?\d{1,3}\.\d{4,})\s*,\s*(-?\d{1,3}\.\d{4,})\s*\)?$|^POINT\s*\(")
_COORD_NAME = re.compile(r"(^|_)(lat|lng|lon|long|latitude|longitude|geolocation|geo|location|coord|"
                         r"coordinates|point|wgs84|gcj02|x坐标|y坐标|经度|纬度)(_|$)|经度|纬度|坐标", re.IGNORECASE)
_NAME_NAME = re.compile(r"(^|_)(name|xm|姓名|fullname|person|owner|contact|applicant|holder)(_|$)|姓名|联系人|申请人",
                        re.IGNORECASE)
_ADDRESS_NAME = re.compile(r"addr|address|dz|地址|住址|street|location", re.IGNORECASE)
SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
               "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹熊秦江尹易雷龙贺颜欧阳万段雷钱汤尹黎常武乔文施洪龚严"
               "覃毛邱史侯邵孟白康胡薛闫傅葛章")


def is_resident_id(text: str) -> bool:
    t = text.upper()
    if len(t) != 18 or not t[:17].isdigit() or not (t[17].isdigit() or t[17] == "X"):
        return False
    return id_check_char(t[:17]) == t[17] and 1 <= int(t[10:12]) <= 12 and 1 <= int(t[12:14]) <= 31


def is_credit_code(text: str) -> bool:
    """GB 32100: a defined authority and organisation type, then the MOD 31 check character."""
    t = text.upper()
    authority = USCC_AUTHORITIES.get(t[:1])
    return (len(t) == 18 and authority is not None and t[1] in authority[1] and all(c in USCC_CHARS for c in t)
            and credit_check_char(t[:17]) == t[17])


def is_mobile(text: str) -> bool:
    return len(text) <= 20 and bool(validate_mobile({"mobile": text})["valid"])


def is_landline(text: str) -> bool:
    return bool(_LANDLINE.match(text.strip())) and not is_mobile(text)


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_bank_card(text: str) -> bool:
    """16-19 digits passing Luhn; an 18-digit number that is also a valid resident ID is taken as the ID
    (one in ten ID numbers passes Luhn by chance; one card in ~20 would pass the ID check and date)."""
    t = text.replace(" ", "")
    return 16 <= len(t) <= 19 and t.isdigit() and t[0] in "3456" and luhn(t) and not is_resident_id(t)


def is_coordinate_pair(text: str) -> bool:
    return bool(_POINT.match(text.strip()))


@dataclass(frozen=True)
class Detector:
    pii_type: str
    accepts: Callable[[str], bool]
    threshold: float = 0.8
    name_hint: re.Pattern[str] | None = None  # required in the column's name when set


DETECTORS: tuple[Detector, ...] = (
    Detector("resident_id", is_resident_id),
    Detector("credit_code", is_credit_code),
    Detector("bank_card", is_bank_card),
    Detector("mobile", is_mobile),
    Detector("landline", is_landline),
    Detector("email", lambda t: bool(_EMAIL.match(t))),
    Detector("plate", lambda t: bool(_PLATE.match(t.upper()))),
    Detector("passport", lambda t: bool(_PASSPORT.match(t.upper()))),
    Detector("person_name", lambda t: bool(_HAN_NAME.match(t)) and t[0] in SURNAMES, 0.7, _NAME_NAME),
    Detector("address", lambda t: bool(_ZH_ADDRESS.search(t) or _EN_ADDRESS.match(t)), 0.6, _ADDRESS_NAME),
    Detector("coordinates", is_coordinate_pair, 0.6, _COORD_NAME),
)


@dataclass(frozen=True)
class Proposal:
    column: str
    pii_type: str
    confidence: float  # share of the non-empty sample the detector accepted


def _precise_number(value: Any) -> bool:
    """A latitude/longitude given to 4+ decimals (about 10 m): precise enough to find a door."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    text = repr(float(value))
    return -180 <= value <= 180 and "." in text and len(text.split(".")[1].rstrip("0")) >= 4


def propose_column(name: str, values: Iterable[Any]) -> Proposal | None:
    """The PII type this column most likely holds, or None."""
    sample = [v for v in values if v is not None and str(v).strip() != ""][:SAMPLE_ROWS]
    if not sample:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in sample):
        if not _COORD_NAME.search(name):
            return None
        share = sum(_precise_number(v) for v in sample) / len(sample)
        return Proposal(name, "coordinates", round(share, 3)) if share >= 0.6 else None
    texts = [str(v).strip() for v in sample]
    best: Proposal | None = None
    for det in DETECTORS:
        if det.name_hint is not None and not det.name_hint.search(name):
            continue
        share = sum(1 for t in texts if det.accepts(t)) / len(texts)
        if share >= det.threshold and (best is None or share > best.confidence):
            best = Proposal(name, det.pii_type, round(share, 3))
    return best


def propose_table(columns: dict[str, list[Any]]) -> list[Proposal]:
    """Proposals for every column of a sample (column name -> values)."""
    found = [propose_column(name, values) for name, values in columns.items()]
    return [p for p in found if p is not None]
