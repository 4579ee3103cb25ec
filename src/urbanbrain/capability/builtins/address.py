"""Chinese address standardisation as a capability: parse (`urbanbrain.reference.addresses`), then match
to the city's standard address registry.

Matching reads the registry (resources' 标准地址库: address_id, district, street, road, number,
building, unit, room, standard, lon, lat) through the query engine as the caller, filtered by road and
house number, and scores candidates by which parts agree.
"""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.base import BuiltinSpec
from urbanbrain.core.errors import ValidationError
from urbanbrain.govern.principals import Principal
from urbanbrain.reference.addresses import WEIGHTS, _score, parse, road_core, standard_text

__all__ = ["SPEC", "WEIGHTS", "match", "match_many", "parse", "road_core", "standard_text", "standardise"]


REGISTRY_COLUMNS = ("address_id", "district", "road", "number")
OPTIONAL_COLUMNS = ("district_code", "street", "building", "unit", "room", "standard", "lon", "lat")


def _registry(registry: str | None, principal: Principal) -> tuple[str, list[str]]:
    """The registry dataset and the columns of it `principal` sees (the required ones must be among them)."""
    from urbanbrain.capability.builtins._lake import find_dataset, require_columns, visible_columns

    ds = find_dataset(registry, "address", (".addresses", ".address_registry", ".address"), "address registry")
    require_columns(ds, *REGISTRY_COLUMNS, principal=principal)
    have = set(visible_columns(ds.name, principal))
    return ds.name, [c for c in REGISTRY_COLUMNS + OPTIONAL_COLUMNS if c in have]


def _select(name: str, cols: list[str]) -> str:
    from urbanbrain.capability.builtins._lake import sql_dataset
    from urbanbrain.lake.engine import quote_ident

    return f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {sql_dataset(name)} WHERE "


def _road_like(parts: dict[str, Any]) -> str:
    from urbanbrain.capability.builtins._lake import sql_literal
    from urbanbrain.lake.engine import quote_ident

    core = road_core(parts["road"]).replace("%", "").replace("_", "")
    return f"CAST({quote_ident('road')} AS VARCHAR) LIKE {sql_literal('%' + core + '%')}"


def _number_is(number: int) -> str:
    from urbanbrain.lake.engine import quote_ident

    return f"TRY_CAST({quote_ident('number')} AS BIGINT) = {int(number)}"


def _best(parts: dict[str, Any], rows: list[dict[str, Any]], out: dict[str, Any], min_score: float) -> dict[str, Any]:
    """Score the candidate rows against the parsed parts; the best one when it reaches `min_score`."""
    if not rows:
        return out
    scored = sorted(((_score(parts, r), str(r["address_id"]), r) for r in rows), key=lambda x: (-x[0], x[1]))
    best_score, _, best = scored[0]
    out.update(candidates=len(rows), ties=sum(1 for s, _, _ in scored if s == best_score) - 1, score=best_score)
    if best_score >= min_score:
        out.update(address_id=str(best["address_id"]), standard=best.get("standard"),
                   lon=best.get("lon"), lat=best.get("lat"), district=best.get("district"))
        out["level"] = "room" if parts.get("room") is not None and best_score >= 0.95 else (
            "house" if parts.get("number") is not None else "road")
    return out


def _road_rows(name: str, cols: list[str], parts: dict[str, Any], principal: Principal) -> list[dict[str, Any]]:
    """Every registry row on the address's road (the first 500 by id): the fallback when no house number
    matched."""
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident

    return run_query(f"{_select(name, cols)}{_road_like(parts)} ORDER BY {quote_ident('address_id')}",
                     max_rows=500, principal=principal).table.to_pylist()


def match(parts: dict[str, Any], registry: str | None, min_score: float,
          principal: Principal | None = None) -> dict[str, Any]:
    """Best registry row for the parsed parts: filtered by road core (and house number) in SQL, read as
    `principal` (the capability's caller when not given)."""
    from urbanbrain.capability.builtins._lake import caller
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident

    principal = principal or caller()
    name, cols = _registry(registry, principal)
    out: dict[str, Any] = {"registry": name, "address_id": None, "score": 0.0, "candidates": 0, "ties": 0}
    if not parts.get("road"):
        return out
    rows: list[dict[str, Any]] = []
    if parts.get("number") is not None:
        rows = run_query(f"{_select(name, cols)}{_road_like(parts)} AND {_number_is(parts['number'])} "
                         f"ORDER BY {quote_ident('address_id')}", max_rows=2000, principal=principal).table.to_pylist()
    return _best(parts, rows or _road_rows(name, cols, parts, principal), out, min_score)


MANY_CHUNK = 200  # (road, number) pairs per query: the SQL stays a few tens of kB


def match_many(texts: list[str], registry: str | None = None, min_score: float = 0.5, *,
               principal: Principal, default_city: str = "430100") -> dict[str, dict[str, Any]]:
    """`match` for many addresses at once: one query per 200 distinct (road, house number) pairs instead
    of one or two per address (the wall geocodes hundreds of facilities; 500 queries took seconds), then
    the same scoring per address. Addresses with no house-number match fall back to `match`'s road-only
    query, one each. Keyed by the input text; every read is `principal`'s, through the query engine."""
    from urbanbrain.govern.query import run_query

    name, cols = _registry(registry, principal)
    parsed = {t: parse(t, default_city) for t in dict.fromkeys(texts) if t and t.strip()}
    out = {t: {"registry": name, "address_id": None, "score": 0.0, "candidates": 0, "ties": 0} for t in parsed}
    pairs: dict[tuple[str, int], list[str]] = {}
    for text, parts in parsed.items():
        if parts.get("road") and parts.get("number") is not None:
            pairs.setdefault((road_core(parts["road"]), int(parts["number"])), []).append(text)
    found: dict[tuple[str, int], list[dict[str, Any]]] = {}
    keys = list(pairs)
    for k in range(0, len(keys), MANY_CHUNK):
        chunk = keys[k:k + MANY_CHUNK]
        where = " OR ".join(f"({_road_like({'road': core})} AND {_number_is(number)})" for core, number in chunk)
        rows = run_query(f"{_select(name, cols)}{where}", max_rows=200_000, principal=principal).table.to_pylist()
        for row in rows:
            road = str(row.get("road") or "")
            try:
                number = int(row["number"])
            except (TypeError, ValueError):
                continue
            for core, want in chunk:
                if want == number and core.replace("%", "").replace("_", "") in road:
                    found.setdefault((core, number), []).append(row)
    for text, parts in parsed.items():
        if not parts.get("road"):
            continue
        rows = found.get((road_core(parts["road"]), int(parts["number"])), []) if parts.get("number") is not None \
            else []
        rows = sorted(rows, key=lambda r: str(r["address_id"]))[:2000]
        out[text] = _best(parts, rows or _road_rows(name, cols, parts, principal), out[text], min_score)
    return out


def standardise(params: dict[str, Any]) -> dict[str, Any]:
    text = str(params["address"]).strip()
    if not text:
        raise ValidationError("the address is empty")
    parts = parse(text, params.get("default_city") or "430100")
    result: dict[str, Any] = {"input": text, **parts}
    if params.get("match", True):
        found = match(parts, params.get("registry"), float(params.get("min_score", 0.5)))
        result["match"] = found
        if found.get("address_id") and not parts.get("district") and found.get("district"):
            reparsed = parse(f"{found['district']}{text}")  # a bare road: take the divisions from the registry
            for key in ("province", "city", "district", "district_code"):
                result[key] = reparsed[key]
            result["filled"] = [*parts["filled"], "district", "city", "province"]
    result["standard"] = standard_text(result)
    return result


_TEXT = {"type": ["string", "null"]}
_INT = {"type": ["integer", "null"]}

SPEC = BuiltinSpec(
    name="address_standardise",
    title_zh="地址标准化与匹配",
    title_en="Address standardisation and matching",
    description_zh="将自由文本地址切分为省/市/区县/街道/道路门牌/楼栋/单元/室，规范化（补全上级区划、全角转半角、"
                   "长沙→长沙市），并与城市标准地址库匹配，返回地址编码和匹配得分。",
    description_en="Splits a free-text Chinese address into province/city/district/street/road and house number/"
                   "building/unit/room, normalises it (fills parent divisions, full-width digits, 长沙→长沙市) and "
                   "matches it to the city's standard address registry, returning the address id and a score.",
    category="spatial",
    input_schema={
        "type": "object", "required": ["address"], "additionalProperties": False,
        "properties": {
            "address": {"type": "string", "minLength": 1, "maxLength": 200},
            "match": {"type": "boolean", "default": True, "description": "match to the address registry"},
            "registry": {"type": "string", "description": "registry dataset (default: the lake's address registry)"},
            "min_score": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "default_city": {"type": "string", "pattern": "^[0-9]{6}$", "default": "430100",
                             "description": "division code preferred for a bare, ambiguous district name"},
        },
    },
    output_schema={
        "type": "object", "required": ["input", "standard", "filled"],
        "properties": {
            "input": {"type": "string"}, "standard": {"type": "string"},
            "province": _TEXT, "city": _TEXT, "district": _TEXT, "district_code": _TEXT, "street": _TEXT,
            "community": _TEXT, "road": _TEXT, "number": _INT, "building": _INT, "unit": _INT, "room": _INT,
            "detail": _TEXT, "filled": {"type": "array", "items": {"type": "string"}},
            "match": {"type": "object", "properties": {
                "registry": {"type": "string"}, "address_id": _TEXT, "score": {"type": "number"},
                "candidates": {"type": "integer"}, "ties": {"type": "integer"}, "level": _TEXT,
                "standard": _TEXT, "lon": {"type": ["number", "null"]}, "lat": {"type": ["number", "null"]}}},
        },
    },
    func=standardise,
    owner="resources",
    examples=[{"params": {"address": "湖南省长沙市芙蓉区五一大道123号3栋2单元401室"}},
              {"params": {"address": "长沙芙蓉区五一路123号3-2-401", "match": False}}],
)
