"""Script-aware normalisation of names, free text and addresses outside the Chinese engine.

Chinese text keeps the Chinese treatment (spaces removed, toneless pinyin for homophones, the address
standardiser for the configured city). Latin-script text is case-folded, stripped of accents and
punctuation, split into tokens; names also give their tokens in sorted order ("Lee Seok Ju" = "Seok Ju
Lee"), their initials and first/last tokens; English nicknames map to one canonical first name when the
`nicknames` package is installed locally (it is optional; nothing is downloaded). Latin addresses lose the
usual abbreviation differences (Boulevard/Blvd./Blv., Street/St., North/N.) and give their house number
and street core, which blocking and comparison use.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_CJK = re.compile(r"[\u3400-\u9fff]")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
# USPS Publication 28 style: every spelling of a street word -> one short form
_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "boulevard": "blvd", "blv": "blvd",
    "road": "rd", "drive": "dr", "lane": "ln", "place": "pl", "court": "ct", "square": "sq", "highway": "hwy",
    "parkway": "pkwy", "terrace": "ter", "circle": "cir", "north": "n", "south": "s", "east": "e",
    "west": "w", "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw", "suite": "ste",
    "floor": "fl", "apartment": "apt", "mount": "mt", "saint": "st", "fort": "ft", "center": "ctr",
    "centre": "ctr", "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}
_UNIT_WORDS = {"ste", "apt", "fl", "unit", "room", "rm", "no"}
_STOP = {"the", "of", "and", "at", "on", "in", "de", "la", "le"}


def has_cjk(text: str | None) -> bool:
    return bool(text) and _CJK.search(str(text)) is not None


def fold(text: str | None) -> str | None:
    """Case-folded, accents removed, punctuation to spaces, spaces collapsed ("Zoë's Café" -> "zoe s cafe")."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    out = _SPACES.sub(" ", _PUNCT.sub(" ", plain.replace("'", "").replace("\u2019", ""))).strip()
    return out or None


@lru_cache(maxsize=1)
def _nicknamer() -> Any:
    try:
        from nicknames import NickNamer  # type: ignore[import-not-found]
    except ImportError:
        return None
    return NickNamer()


@lru_cache(maxsize=1 << 16)
def canonical_first(token: str) -> str:
    """The canonical given name of a nickname (bill -> william) when `nicknames` is installed; else itself."""
    namer = _nicknamer()
    if namer is None:
        return token
    names = sorted(namer.canonicals_of(token))
    return names[0] if names and len(token) > 1 else token


@lru_cache(maxsize=1 << 18)
def name_parts(text: str | None) -> dict[str, str | None]:
    """`norm` (folded), `key` (sorted tokens, or pinyin for Chinese), `initials`, `first`, `last`."""
    if not text or not str(text).strip():
        return {"norm": None, "key": None, "initials": None, "first": None, "last": None}
    if has_cjk(text):
        from urbanbrain.link.normalise import clean_name, pinyin

        name = clean_name(text)
        py = pinyin(name)
        return {"norm": name, "key": py, "initials": py[:1] if py else None,
                "first": py, "last": pinyin(name[:1]) if name else None}
    tokens = [t for t in (fold(text) or "").split(" ") if t]
    if not tokens:
        return {"norm": None, "key": None, "initials": None, "first": None, "last": None}
    first = canonical_first(tokens[0])
    return {"norm": " ".join(tokens), "key": " ".join(sorted(tokens)),
            "initials": "".join(sorted(t[0] for t in tokens)), "first": first, "last": tokens[-1]}


@lru_cache(maxsize=1 << 18)
def text_parts(text: str | None) -> dict[str, str | None]:
    """`norm` (folded), `tokens` (sorted distinct tokens without stop words), `first` (first token)."""
    norm = fold(text)
    if not norm:
        return {"norm": None, "tokens": None, "first": None}
    tokens = [t for t in norm.split(" ") if t not in _STOP] or norm.split(" ")
    return {"norm": norm, "tokens": " ".join(sorted(set(tokens))), "first": tokens[0]}


@lru_cache(maxsize=1 << 18)
def latin_address(text: str | None) -> dict[str, str | None]:
    """`norm` (abbreviations unified), `number` (house number), `street` (first street word after it),
    `tokens` (sorted distinct tokens): "435 S. La Cienega Blvd." and "435 South La Cienega Boulevard"
    normalise alike."""
    norm = fold(text)
    if not norm:
        return {"norm": None, "number": None, "street": None, "tokens": None}
    tokens = [_STREET_WORDS.get(t, t) for t in norm.split(" ")]
    number = next((t for t in tokens if t[:1].isdigit()), None)
    after = tokens[tokens.index(number) + 1:] if number else tokens
    directions = {"n", "s", "e", "w", "ne", "nw", "se", "sw"}
    street = next((t for t in after if t not in directions and t not in _UNIT_WORDS and t not in _STOP
                   and not t.isdigit()), None)
    return {"norm": " ".join(tokens), "number": number, "street": street,
            "tokens": " ".join(sorted(set(tokens)))}
