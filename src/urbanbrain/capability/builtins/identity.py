"""The identity built-ins: validation of resident ID numbers, credit codes and mobile numbers as capabilities.

The rules themselves live in `urbanbrain.reference.identifiers` (governance and One ID use them too).
"""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.base import BuiltinSpec
from urbanbrain.reference.identifiers import (
    CARRIER_EN,
    CARRIERS,
    ID_CHECK,
    ID_WEIGHTS,
    NATIONAL,
    PREFIX_CARRIER,
    USCC_AUTHORITIES,
    USCC_CHARS,
    USCC_WEIGHTS,
    _clean,
    clean,
    credit_check_char,
    id_check_char,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
)

__all__ = [
    "CARRIERS", "CARRIER_EN", "ID_CHECK", "ID_WEIGHTS", "NATIONAL", "PREFIX_CARRIER", "USCC_AUTHORITIES",
    "USCC_CHARS", "USCC_WEIGHTS", "_clean", "clean", "credit_check_char", "id_check_char",
    "validate_credit_code", "validate_id_number", "validate_mobile"
]


def _output(fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["valid", "reasons"],
            "properties": {"valid": {"type": "boolean"}, "reasons": {"type": "array", "items": {"type": "string"}},
                           **fields}}


_TEXT = {"type": ["string", "null"]}
_REGION = {"region_code": _TEXT, "province": _TEXT, "city": _TEXT, "district": _TEXT}

ID_NUMBER = BuiltinSpec(
    name="validate_id_number",
    title_zh="居民身份证号码校验",
    title_en="Resident ID number validation",
    description_zh="按 GB 11643 校验公民身份号码：校验码（ISO 7064 MOD 11-2）、行政区划代码、出生日期，"
                   "解析性别和籍贯；兼容 15 位旧号码并给出升位后的 18 位号码。",
    description_en="Checks a resident ID number against GB 11643 (MOD 11-2 check character, real division code, "
                   "valid birth date) and parses region, birth date and sex; 15-digit legacy numbers are accepted "
                   "and upgraded.",
    category="verification",
    input_schema={"type": "object", "required": ["id_number"], "additionalProperties": False,
                  "properties": {"id_number": {"type": "string", "minLength": 1, "maxLength": 32,
                                               "description": "18- or 15-digit number; spaces ignored"}}},
    output_schema=_output({"id_number": {"type": "string"}, "legacy": {"type": "boolean"}, "upgraded": _TEXT,
                           **_REGION, "birth_date": _TEXT, "sex": _TEXT, "sex_zh": _TEXT}),
    func=validate_id_number,
    owner="police",
    examples=[{"params": {"id_number": "11010519491231002X"}}],
    inline=True,
)

CREDIT_CODE = BuiltinSpec(
    name="validate_credit_code",
    title_zh="统一社会信用代码校验",
    title_en="Unified social credit code validation",
    description_zh="按 GB 32100 校验统一社会信用代码：字符集、MOD 31 校验码、登记管理部门和机构类别代码、"
                   "行政区划代码。",
    description_en="Checks a unified social credit code against GB 32100: alphabet, MOD 31 check character, "
                   "registration authority and organisation type, and division code.",
    category="verification",
    input_schema={"type": "object", "required": ["credit_code"], "additionalProperties": False,
                  "properties": {"credit_code": {"type": "string", "minLength": 1, "maxLength": 32}}},
    output_schema=_output({"credit_code": {"type": "string"}, "authority_code": _TEXT, "type_code": _TEXT,
                           "authority": _TEXT, "organisation_type": _TEXT, **_REGION,
                           "organisation_code": _TEXT}),
    func=validate_credit_code,
    owner="market",
    examples=[{"params": {"credit_code": "91350100M000100Y43"}}],
    inline=True,
)

MOBILE = BuiltinSpec(
    name="validate_mobile",
    title_zh="手机号码校验",
    title_en="Mobile number validation",
    description_zh="校验中国大陆手机号码（11 位、1[3-9] 号段、已分配号段），识别运营商；自动去除 +86、空格和连字符。",
    description_en="Checks a mainland China mobile number (11 digits, allocated 1[3-9] segment) and names its "
                   "operator; +86, spaces and dashes are stripped.",
    category="verification",
    input_schema={"type": "object", "required": ["mobile"], "additionalProperties": False,
                  "properties": {"mobile": {"type": "string", "minLength": 1, "maxLength": 32}}},
    output_schema=_output({"mobile": {"type": "string"}, "carrier": _TEXT, "carrier_en": _TEXT}),
    func=validate_mobile,
    owner="bigdata",
    examples=[{"params": {"mobile": "+86 138-0731-1234"}}],
    inline=True,
)
