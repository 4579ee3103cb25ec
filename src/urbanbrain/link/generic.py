"""Features, comparisons and blocking keys of a configured kind, from its fields' comparison types.

Each field `f` becomes the column `f` (its normalised value, also what the golden record shows) plus
helper columns `f__*` that comparisons and blocking use:

| type | helpers | comparison levels (after null) |
|---|---|---|
| identifier | - | exact, 1 edit or a transposition, else |
| name | key (sorted tokens / pinyin), initials, first, last | exact, same tokens any order, JW >= 0.92, the words |
| | | of one all in the other, JW >= 0.8, half the words shared, same last token and initials, else |
| text | tokens, first | exact, Jaro-Winkler >= 0.9, the words of one all in the other, token overlap >= 0.5, |
| | | else |
| address | number, street, tokens | exact, same number and street, same number and JW >= 0.85, |
| | | token overlap >= 0.5, else |
| phone | last7 | exact, same last 7 digits, else |
| email | user | exact, same user part, else |
| date | year | exact, 1 edit or a transposition, same year, else |
| number | - | exact, within 1 %, within 10 %, else |
| geo | lat, lon, grid | within 0.1 km, 1 km, 10 km, else |
| category | tokens | exact, a word shared, else |

Blocking keys per type (`candidate_keys`) are what `choose` measures on the data before using any.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from urbanbrain.link.normalise import address_parts, id_number, phone
from urbanbrain.link.textnorm import has_cjk, latin_address, name_parts, text_parts

HELPERS: dict[str, tuple[str, ...]] = {
    "identifier": (), "name": ("key", "initials", "first", "last"), "text": ("tokens", "first"),
    "address": ("number", "street", "tokens"), "phone": ("last7",), "email": ("user",), "date": ("year",),
    "number": (), "geo": ("lat", "lon", "grid"), "category": ("tokens",),
}
FLOAT_HELPERS = {("geo", "lat"), ("geo", "lon")}


def columns_of(fields: dict[str, str]) -> list[tuple[str, pa.DataType]]:
    out: list[tuple[str, pa.DataType]] = []
    for f, t in fields.items():
        out.append((f, pa.string()))
        out += [(f"{f}__{h}", pa.float64() if (t, h) in FLOAT_HELPERS else pa.string()) for h in HELPERS[t]]
    return out


def _date(text: str | None) -> str | None:
    if not text:
        return None
    s = str(text).strip()
    for candidate, fmt in ((s, "%Y-%m-%d"), (s[:10], "%Y-%m-%d"), (s, "%Y/%m/%d"), (s, "%Y%m%d"),
                           (s, "%d/%m/%Y"), (s, "%d.%m.%Y"), (s, "%Y年%m月%d日")):
        try:
            return datetime.strptime(candidate, fmt).date().isoformat()
        except ValueError:
            continue
    m = re.match(r"^(\d{4})(?:\D|$)", s)
    return m.group(1) if m else s


def _number(text: str | None) -> str | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(str(text).replace(",", "").strip())
    except ValueError:
        return str(text).strip()
    return str(int(value)) if value.is_integer() else repr(value)


def _geo(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    nums = re.findall(r"-?\d+(?:\.\d+)?", str(text))
    if len(nums) < 2:
        return None, None
    lat, lon = float(nums[0]), float(nums[1])
    if abs(lat) > 90 and abs(lon) <= 90:
        lat, lon = lon, lat
    return (lat, lon) if abs(lat) <= 90 and abs(lon) <= 180 else (None, None)


def _address(text: str | None) -> dict[str, str | None]:
    if not text or not str(text).strip():
        return {"norm": None, "number": None, "street": None, "tokens": None}
    if has_cjk(text):
        p = address_parts(str(text))
        road, number = p.get("road"), p.get("number")
        house = f"{road}|{number}" if road and number is not None else None
        return {"norm": p.get("standard"), "number": house, "street": road,
                "tokens": " ".join(str(p[k]) for k in ("district", "road", "number", "building", "unit", "room")
                                   if p.get(k) is not None) or None}
    return latin_address(str(text))


def field_features(ctype: str, f: str, values: list[Any]) -> dict[str, list[Any]]:
    """The feature columns of one field from its raw values (strings or None)."""
    texts = [None if v is None or not str(v).strip() else str(v) for v in values]
    if ctype == "identifier":
        return {f: [id_number(t) for t in texts]}
    if ctype == "name":
        parts = [name_parts(t) for t in texts]
        return {f: [p["norm"] for p in parts], **{f"{f}__{h}": [p[h] for p in parts] for h in HELPERS["name"]}}
    if ctype == "text":
        tp = [text_parts(t) for t in texts]
        return {f: [p["norm"] for p in tp], f"{f}__tokens": [p["tokens"] for p in tp],
                f"{f}__first": [p["first"] for p in tp]}
    if ctype == "address":
        ap = [_address(t) for t in texts]
        return {f: [p["norm"] for p in ap], **{f"{f}__{h}": [p[h] for p in ap] for h in HELPERS["address"]}}
    if ctype == "phone":
        ph = [phone(t) for t in texts]
        return {f: ph, f"{f}__last7": [p[-7:] if p and len(p) >= 7 else p for p in ph]}
    if ctype == "email":
        em = [t.strip().casefold() if t else None for t in texts]
        return {f: em, f"{f}__user": [e.split("@", 1)[0] if e else None for e in em]}
    if ctype == "date":
        ds = [_date(t) for t in texts]
        return {f: ds, f"{f}__year": [d[:4] if d else None for d in ds]}
    if ctype == "number":
        return {f: [_number(t) for t in texts]}
    if ctype == "geo":
        pts = [_geo(t) for t in texts]
        return {f: [f"{a:.5f},{b:.5f}" if a is not None else None for a, b in pts],
                f"{f}__lat": [a for a, _ in pts], f"{f}__lon": [b for _, b in pts],
                f"{f}__grid": [f"{round(a, 2)},{round(b, 2)}" if a is not None and b is not None else None
                               for a, b in pts]}
    cats = [t.strip().casefold() if t else None for t in texts]  # category
    return {f: cats, f"{f}__tokens": [text_parts(c)["tokens"] if c else None for c in cats]}


def features(fields: dict[str, str], table: pa.Table) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f, ctype in fields.items():
        values = table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows
        out.update(field_features(ctype, f, values))
    return out


# ---- comparisons -------------------------------------------------------------------------------------

def _overlap(a: str, b: str) -> str:
    la, lb = f"string_split({a}, ' ')", f"string_split({b}, ' ')"
    # the character-set Jaccard first is ~10x cheaper and rules out most pairs before the token lists
    return (f"jaccard({a}, {b}) >= 0.3 AND (len(list_intersect({la}, {lb}))::DOUBLE / "
            f"greatest(1, len(list_distinct(list_concat({la}, {lb}))))) >= 0.5")


def _contained(a: str, b: str) -> str:
    """Every word of one side is a word of the other ("spago" / "spago los angeles")."""
    la, lb = f"string_split({a}, ' ')", f"string_split({b}, ' ')"
    return f"(list_has_all({la}, {lb}) OR list_has_all({lb}, {la}))"


def _shared(a: str, b: str) -> str:
    """At least one word in common (two cuisine labels, two spellings of a city)."""
    return f"len(list_intersect(string_split({a}, ' '), string_split({b}, ' '))) > 0"


def _one_edit(a: str, b: str) -> str:
    """Levenshtein <= 1 or two adjacent characters swapped (DuckDB's damerau_levenshtein is ~7x slower)."""
    return (f"(levenshtein({a}, {b}) <= 1 OR CASE WHEN length({a}) = length({b}) THEN hamming({a}, {b}) = 2 AND "
            f"list_sort(string_split({a}, '')) = list_sort(string_split({b}, '')) ELSE false END)")


def _levels(ctype: str, f: str) -> list[tuple[str, str]]:
    """(SQL, label) levels after the null level, ending with the else level."""
    l_, r_ = f"{f}_l", f"{f}_r"

    def h(name: str, side: str) -> str:
        return f"{f}__{name}_{side}"

    if ctype == "identifier":
        return [(f"{l_} = {r_}", "exact"), (_one_edit(l_, r_), "one edit or a transposition")]
    if ctype == "name":
        return [(f"{l_} = {r_}", "exact"), (f"{h('key', 'l')} = {h('key', 'r')}", "same tokens, any order"),
                (f"jaro_winkler_similarity({h('key', 'l')}, {h('key', 'r')}) >= 0.92", "Jaro-Winkler >= 0.92"),
                (_contained(h("key", "l"), h("key", "r")), "the words of one all in the other"),
                (f"jaro_winkler_similarity({h('key', 'l')}, {h('key', 'r')}) >= 0.8", "Jaro-Winkler >= 0.8"),
                (_overlap(h("key", "l"), h("key", "r")), "half the words shared"),
                (f"{h('last', 'l')} = {h('last', 'r')} AND (starts_with({h('initials', 'l')}, {h('initials', 'r')})"
                 f" OR starts_with({h('initials', 'r')}, {h('initials', 'l')}))", "same last name, initials agree")]
    if ctype == "text":
        return [(f"{l_} = {r_}", "exact"), (f"jaro_winkler_similarity({l_}, {r_}) >= 0.9", "Jaro-Winkler >= 0.9"),
                (_contained(h("tokens", "l"), h("tokens", "r")), "the words of one all in the other"),
                (_overlap(h("tokens", "l"), h("tokens", "r")), "half the words shared")]
    if ctype == "address":
        return [(f"{l_} = {r_}", "exact"),
                (f"{h('number', 'l')} = {h('number', 'r')} AND {h('street', 'l')} = {h('street', 'r')}",
                 "same number and street"),
                (f"{h('number', 'l')} = {h('number', 'r')} AND jaro_winkler_similarity({l_}, {r_}) >= 0.85",
                 "same number, similar text"),
                (_overlap(h("tokens", "l"), h("tokens", "r")), "half the words shared")]
    if ctype == "phone":
        return [(f"{l_} = {r_}", "exact"), (f"{h('last7', 'l')} = {h('last7', 'r')}", "same last 7 digits")]
    if ctype == "email":
        return [(f"{l_} = {r_}", "exact"), (f"{h('user', 'l')} = {h('user', 'r')}", "same user")]
    if ctype == "date":
        return [(f"{l_} = {r_}", "exact"), (_one_edit(l_, r_), "one typo"),
                (f"{h('year', 'l')} = {h('year', 'r')}", "same year")]
    if ctype == "number":
        a, b = f"TRY_CAST({l_} AS DOUBLE)", f"TRY_CAST({r_} AS DOUBLE)"
        rel = f"abs({a} - {b}) / greatest(abs({a}), 1e-9)"
        return [(f"{l_} = {r_}", "exact"), (f"{rel} <= 0.01", "within 1 %"), (f"{rel} <= 0.1", "within 10 %")]
    if ctype == "geo":
        la, lo, lb, lob = h("lat", "l"), h("lon", "l"), h("lat", "r"), h("lon", "r")
        km = (f"(6371.0 * 2 * asin(sqrt(pow(sin(radians({lb} - {la}) / 2), 2) + cos(radians({la})) * "
              f"cos(radians({lb})) * pow(sin(radians({lob} - {lo}) / 2), 2))))")
        return [(f"{km} <= 0.1", "within 100 m"), (f"{km} <= 1", "within 1 km"), (f"{km} <= 10", "within 10 km")]
    # category: two sources' vocabularies differ ("french" / "french bistro", "new york" / "new york city")
    return [(f"{l_} = {r_}", "exact"), (_shared(h("tokens", "l"), h("tokens", "r")), "a word shared")]


def comparison(ctype: str, f: str) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    null_col = f"{f}__lat" if ctype == "geo" else f
    # the always-true terms name the field's blocking helpers, so Splink sees the comparison uses them
    # and does not estimate its m on an EM pass blocked on one of them (a biased sample)
    uses = "".join(f" AND ({f}__{h}_l IS NULL OR {f}__{h}_l IS NOT NULL)" for h in KEY_HELPERS[ctype] if h)
    null_sql = f"({null_col}_l IS NULL OR {null_col}_r IS NULL){uses}"
    levels: list[Any] = [cll.CustomLevel(null_sql).configure(is_null_level=True)]
    levels += [cll.CustomLevel(sql, label_for_charts=label) for sql, label in _levels(ctype, f)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name=f, comparison_levels=levels)


def comparisons_of(fields: dict[str, str]) -> Callable[[], list[Any]]:
    def build() -> list[Any]:
        return [comparison(t, f) for f, t in fields.items()]
    return build


# ---- blocking candidates -----------------------------------------------------------------------------

KEY_HELPERS: dict[str, tuple[str | None, ...]] = {
    "identifier": (None,), "name": (None, "key", "first", "last"), "text": (None, "first"),
    "address": (None, "number"), "phone": (None,), "email": (None,), "date": (None,), "number": (None,),
    "geo": ("grid",), "category": (None,),
}
# identifying on their own: a deterministic (training) rule may be just one of these
IDENTIFYING = ("identifier", "phone", "email")


def candidate_keys(fields: dict[str, str]) -> list[tuple[str, str]]:
    """(field, column) blocking keys, most specific first within each field."""
    return [(f, c if h is None else f"{f}__{h}") for f, t in fields.items() for h in KEY_HELPERS[t]
            for c in [f]]
