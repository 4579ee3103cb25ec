"""Console languages: message catalogs, picking a language per request, and locale-aware formatting.

Every UI string goes through `t(<key>)`, looked up in `web/locales/<lang>[.<area>].json` (flat key → text, with
`{name}` placeholders). The language comes from the `lang` cookie (set by the switch on every page), else
the browser's `Accept-Language`, else English. Catalogs are read once per process; a test keeps them
complete and in step with the templates.

Example:
    >>> tr = translator("zh-CN")
    >>> tr("nav.overview")
    '总览'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

from urbanbrain.core.clock import as_utc, utcnow

LOCALES_DIR = Path(__file__).with_name("locales")
LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "中文"}
DEFAULT_LANGUAGE = "en"
COOKIE = "lang"

Translate = Callable[..., str]


@cache
def catalog(lang: str) -> dict[str, str]:
    """The messages of one language (loaded once): `<lang>.json` plus one `<lang>.<area>.json` per console
    area (live, ioc, indicators, ...), so each area's strings live beside each other; a key defined twice
    is an error, not a silent override."""
    data: dict[str, str] = json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    for part in sorted(LOCALES_DIR.glob(f"{lang}.*.json")):
        extra: dict[str, str] = json.loads(part.read_text(encoding="utf-8"))
        twice = sorted(set(extra) & set(data))
        if twice:
            raise ValueError(f"{part.name} redefines catalog keys {twice[:5]}; keep each key in one file")
        data.update(extra)
    return data


def _match(tag: str) -> str | None:
    tag = tag.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: a valid cookie wins, then the best `Accept-Language` match by q-value."""
    if cookie in LANGUAGES:
        return cookie
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = _match(tag)
        if lang and quality > 0:
            choices.append((-quality, position, lang))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


def translator(lang: str) -> Translate:
    """`t(key, **values)`: the message in `lang`, falling back to English, then to the key itself."""
    messages = catalog(lang)
    fallback = catalog(DEFAULT_LANGUAGE)

    def t(key: str, **values: object) -> str:
        text = messages.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


def ago(t: Translate, when: datetime | None, now: datetime | None = None) -> str:
    """'5 minutes ago' / '5 分钟前': freshness the way operators read it."""
    if when is None:
        return t("time.never")
    seconds = int(((now or utcnow()) - as_utc(when)).total_seconds())
    if seconds < 0:
        return t("time.in_future")
    for limit, size, key in ((60, 1, "time.seconds_ago"), (3600, 60, "time.minutes_ago"),
                             (86400, 3600, "time.hours_ago"), (None, 86400, "time.days_ago")):
        if limit is None or seconds < limit:
            return t("time.just_now") if seconds < 10 else t(key, n=seconds // size)
    return t("time.never")  # unreachable: the last step has no limit


def compact(lang: str, value: int | float) -> str:
    """Large counts as people say them: 13.7B in English, 137 亿 in Chinese; below a million (万) in full."""
    n = float(value)
    steps = ((1e8, "亿"), (1e4, "万")) if lang == "zh-CN" else ((1e9, "B"), (1e6, "M"))
    for size, unit in steps:
        if abs(n) >= size:
            scaled = n / size
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if scaled < 100 else f"{scaled:.0f}"
            return f"{text}{' ' if lang == 'zh-CN' else ''}{unit}"
    return f"{int(n):,}"


def duration(seconds: float | None) -> str:
    """A run's duration: 0.4 s, 12 s, 3 m 5 s, 1 h 2 m (units are the same in both languages)."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} m"
