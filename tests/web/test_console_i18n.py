"""The message catalogs stay complete: same keys in every language, and every key the UI uses exists.

Keys are found where they are used — `t("...")` in templates, console routes and `i18n.py` — plus the
keys built from a prefix and a known value (`health.` + state, `status.` + run status, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from urbanbrain.capability.catalog import CATALOG_KINDS, CATEGORIES, STATUSES
from urbanbrain.capability.suggest import PATTERNS
from urbanbrain.govern.classification import LEVELS
from urbanbrain.govern.pii import PII_TYPES
from urbanbrain.link.ids import EVENT_KINDS
from urbanbrain.link.mapping import KINDS
from urbanbrain.meta.overview import HEALTH_STATES
from urbanbrain.operate.indicators import BREAKDOWNS
from urbanbrain.operate.ioc import LAYERS as IOC_LAYERS
from urbanbrain.operate.ioc import THEMES as IOC_THEMES
from urbanbrain.operate.states import STATUSES as CASE_STATUSES
from urbanbrain.operate.states import TRANSITIONS as CASE_ACTIONS
from urbanbrain.stream.rules import SEVERITIES
from urbanbrain.web import i18n
from urbanbrain.web.console.alerts import VIEWS as ALERT_VIEWS
from urbanbrain.web.console.cases import VIEWS as CASE_VIEWS
from urbanbrain.web.console.runs import RUN_STATUSES

WEB = Path(i18n.__file__).parent
USES = re.compile(r"""\bt\(\s*["']([^"']+)["']""")
DYNAMIC = {
    "health.": HEALTH_STATES,
    "status.": (*RUN_STATUSES, "queued"),
    "role.": ("data", "quarantine"),
    "nav.": ("overview", "systems", "datasets", "runs", "sql"),
    "time.": ("seconds_ago", "minutes_ago", "hours_ago", "days_ago"),  # chosen by size in `i18n.ago`
    "error.": ("400", "401", "403", "404", "409", "422", "429", "500", "502", "503"),
    "category.": CATEGORIES,
    "capstatus.": STATUSES,
    "grantstatus.": ("requested", "approved", "refused", "revoked"),
    "tryerror.": ("401", "403", "404", "422", "429", "504"),
    "casestatus.": CASE_STATUSES,
    "caseaction.": tuple(CASE_ACTIONS),
    "cases.view.": CASE_VIEWS,
    "cases.clock.": ("respond", "resolve"),
    "cases.clockstate.": ("none", "met", "running", "warning", "overdue"),
    "level.": LEVELS,
    "link.kind.": KINDS,
    "link.event.": EVENT_KINDS,
    "trigger.": ("manual", "schedule", "console", "demo", "api"),
    "mask.": ("partial", "hash", "redact", "none"),
    "kind.": CATALOG_KINDS,
    "pii.": PII_TYPES,
    "suggest.pattern.": PATTERNS,
    "live.state.": ("ok", "silent", "alarm"),
    "alerts.view.": ALERT_VIEWS,
    "alerts.status.": ("raised", "acknowledged", "cleared"),
    "alerts.severity.": SEVERITIES,
    "alerts.action.": ("ack", "clear"),
    "theme.": (*IOC_THEMES, "general"),
    "ioc.layer.": IOC_LAYERS,
    "ind.light.": ("ok", "warn", "alarm", "unknown"),
    "ind.direction.": ("up", "down"),
    "ind.by.": tuple(BREAKDOWNS),
}


def used_keys() -> set[str]:
    files = [*WEB.glob("templates/*.html"), *WEB.glob("console/*.py"), WEB / "i18n.py"]
    keys = {key for f in files for key in USES.findall(f.read_text(encoding="utf-8"))}
    keys |= {f"{prefix}{value}" for prefix, values in DYNAMIC.items() for value in values}
    return {k for k in keys if not k.endswith(".")}


def test_catalogs_have_the_same_keys() -> None:
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    assert set(en) == set(zh), {"only in en": set(en) - set(zh), "only in zh-CN": set(zh) - set(en)}
    assert all(v.strip() for v in [*en.values(), *zh.values()])
    for key in en:  # placeholders agree, so `t(key, n=...)` works in both
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_every_used_key_exists_and_every_key_is_used() -> None:
    used, known = used_keys(), set(i18n.catalog("en"))
    assert len(used) > 100
    assert used - known == set()
    assert known - used == set(), "unused catalog keys"


def test_prefix_keys_are_only_built_from_known_values() -> None:
    for f in WEB.glob("templates/*.html"):
        for prefix in re.findall(r"""\bt\(\s*["']([^"']+\.)["']\s*~""", f.read_text(encoding="utf-8")):
            assert prefix in DYNAMIC, (f.name, prefix)


def test_a_built_package_ships_the_console_files() -> None:
    """Templates, static assets and catalogs are package data; a non-editable install must include them."""
    import tomllib
    from fnmatch import fnmatch

    pyproject = tomllib.loads((WEB.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["urbanbrain"]
    root = WEB.parent
    files = [p.relative_to(root).as_posix() for folder in ("templates", "static", "locales")
             for p in (WEB / folder).rglob("*") if p.is_file()]
    patterns = [*globs, *(g.replace("**/", "") for g in globs)]  # `**/` also matches no folder at all
    missing = [f for f in files if not any(fnmatch(f, g) for g in patterns)]
    assert not missing, f"add to [tool.setuptools.package-data] urbanbrain: {sorted(missing)[:5]}"


@pytest.mark.parametrize(("header", "cookie", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", None, "en"),
    ("fr, zh-TW;q=0.5", None, "zh-CN"),
    ("de", None, "en"),
    (None, None, "en"),
    ("zh-CN", "en", "en"),
    ("en", "zh-CN", "zh-CN"),
    ("en", "xx", "en"),
    ("zh;q=0, en;q=0.1", None, "en"),
])
def test_negotiate(header: str | None, cookie: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, header) == expected


def test_humanised_times_and_numbers() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    en, zh = i18n.translator("en"), i18n.translator("zh-CN")
    assert i18n.ago(en, now - timedelta(minutes=5), now) == "5 minutes ago"
    assert i18n.ago(zh, now - timedelta(minutes=5), now) == "5 分钟前"
    assert i18n.ago(en, now - timedelta(seconds=3), now) == "just now"
    assert i18n.ago(en, now - timedelta(days=3, hours=1), now) == "3 days ago"
    assert i18n.ago(en, None, now) == "never"
    assert i18n.compact("en", 13_700_000_000) == "13.7B" and i18n.compact("zh-CN", 13_700_000_000) == "137 亿"
    assert i18n.compact("en", 999_999) == "999,999" and i18n.compact("zh-CN", 25_000) == "2.5 万"
    assert i18n.duration(0.42) == "0.4 s" and i18n.duration(185) == "3 m 5 s"


@pytest.mark.parametrize(("lang", "value", "shown"), [
    ("zh-CN", "every 1d", "每 1 天"), ("zh-CN", "manual", "手动"), ("zh-CN", None, "手动"),
    ("en", "every 5m", "every 5 min"), ("zh-CN", "*/15 * * * *", "*/15 * * * *"),
])
def test_schedules_read_in_the_page_language(lang: str, value: str | None, shown: str) -> None:
    from urbanbrain.web.console.render import schedule_text

    assert schedule_text(i18n.translator(lang), value) == shown
