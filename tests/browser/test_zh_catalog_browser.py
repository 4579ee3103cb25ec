"""Issue 13, point 5: the zh-CN console shows no English catalog text. A platform admin walks every page
reachable from the navigation (and one detail page of each kind linked from them), in zh-CN, and the
walk fails on any English catalog value — or raw catalog key, or enum value shown as stored instead of
through its key — in the page's text where zh-CN differs.

Pages are discovered from the nav links, so pages added later are covered without touching this test.
Identifiers (`code`, `pre`, `.mono`: dataset names, columns, SQL), query results (`table.data`) and
recorded audit details (`.recorded`) are data, not UI text, and are left out.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.web.test_console_i18n import DYNAMIC
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.capability.suggest import publish_suggestion
from urbanbrain.govern import classification as cls
from urbanbrain.govern import sharing, users
from urbanbrain.govern.principals import ANALYST, PLATFORM_ADMIN, Principal
from urbanbrain.web import i18n

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
MAX_PAGES = 60  # a hang guard on the walk, far above the console's page count
TEXTS = """() => {
  const skip = 'code, pre, .mono, .recorded, table.data, script, style, textarea';
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.replace(/\\s+/g, ' ').trim();
    if (text && !n.parentElement.closest(skip)) out.push(text);
  }
  for (const e of document.querySelectorAll('[placeholder], [title], [aria-label]'))
    for (const a of ['placeholder', 'title', 'aria-label'])
      if (e.getAttribute(a) && !e.closest(skip)) out.push(e.getAttribute(a).trim());
  return out;
}"""


def english_patterns() -> dict[str, re.Pattern[str]]:
    """key -> a pattern of its English text, for every key whose zh-CN text differs and does not contain
    it (`urbanbrain`). A text node (or placeholder, title, label) that *is* such a text, in any case (a raw
    enum value `conditional` for "Conditional"), is English shown
    in zh-CN; a text of three words or more is also caught inside a longer node (a sentence)."""
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    out: dict[str, re.Pattern[str]] = {}
    for key, text in en.items():
        if zh.get(key) == text or text in zh.get(key, ""):
            continue
        body = r"\S+".join(re.escape(p) for p in re.split(r"\{\w+\}", text))
        words = len(re.sub(r"\{\w+\}", "", text).split())
        out[key] = re.compile(rf"(?<![A-Za-z]){body}(?![A-Za-z])" if words >= 3 else rf"^{body}$", re.IGNORECASE)
    return out


# Enum values that are also department codes (`hotline` is a theme and a department): a code is an
# identifier and is shown as such in lists and filters, so seeing it is no proof of a missed translation.
DEPARTMENT_CODES = {"hotline"}


def raw_enum_values() -> dict[str, str]:
    """An enum value shown as stored (`conditional`, `builtin`, `manual`) instead of through its key
    (`level.conditional`): value -> key, for the keys the console builds from a prefix and a value."""
    zh = i18n.catalog("zh-CN")
    out: dict[str, str] = {}
    for prefix, values in DYNAMIC.items():
        for value in values:
            key = f"{prefix}{value}"
            if (key in zh and zh[key].lower() != str(value).lower() and len(str(value)) > 2
                    and not str(value).isdigit() and str(value) not in DEPARTMENT_CODES):
                out[str(value).lower()] = key
    return out


def internal_links(page: Any, selector: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        selector, "els => els.filter(e => !e.hasAttribute('download')).map(e => e.getAttribute('href'))")
    out = []
    for href in hrefs:
        if not href or not href.startswith("/") or href.startswith(("/static", "/docs", "/capabilities/openapi",
                                                                      "/lang", "/logout", "/api")):
            continue
        if re.search(r"\.(csv|json|geojson|parquet|png|txt)(\?|$)", urlparse(href).path + "?"):
            continue  # downloads, not pages
        out.append(href)
    return out


def shape(href: str) -> str:
    """Pages of one kind share a shape: `/datasets/x.y.z` and `/datasets/a.b.c` are both `/datasets/*`."""
    path = urlparse(href).path.rstrip("/") or "/"
    parts = path.split("/")
    return "/".join(parts[:2] + ["*"] * (len(parts) - 2))


@pytest.fixture
def admin_city(city: list[Any]) -> list[Any]:
    """The browser suite's city, plus a platform admin, the built-ins, a published data API, a classified
    personal field, an application asking for a grant and a sharing request: states every page can show."""
    users.add_user("root.admin", PASSWORD, roles=[(PLATFORM_ADMIN, None)])
    catalog.publish_builtins()
    api = publish_suggestion("market.licences.enterprises", "market_enterprises_count_by_district")
    cls.set_field("market.licences.enterprises", "name", level="conditional", pii_type="person_name", mask="partial")
    consumers.add_consumer("bus-app", "transport")
    grants.request_grant("bus-app", api.name, purpose="线路规划参考")
    analyst = Principal("user", "ana", frozenset({"transport"}), frozenset({ANALYST}))
    sharing.request_fields("market.licences.enterprises", ["name"], "公交站点周边商户走访", 30, by=analyst)
    return city


def test_every_console_page_in_chinese_shows_no_english_catalog_text(browser: Any, server: str,
                                                                     admin_city: list[Any]) -> None:
    context = browser.new_context(base_url=server, locale="zh-CN")
    context.set_default_timeout(60_000)  # hang guard
    context.add_cookies([{"name": i18n.COOKIE, "value": "zh-CN", "url": server}])
    tab = context.new_page()
    tab.goto("/login")
    tab.fill("#login-name", "root.admin")
    tab.fill("#login-password", PASSWORD)
    tab.locator("form button[type=submit]").first.click()
    tab.wait_for_url(lambda url: "/login" not in url)
    patterns, enums = english_patterns(), raw_enum_values()
    keys = set(i18n.catalog("en"))
    raw_key = re.compile(r"\b[a-z][a-z_]*(?:\.[a-z0-9_]+)+\b")
    nav = internal_links(tab, "nav.nav a")
    assert len(nav) >= 8, nav
    todo, seen_shapes, found = list(dict.fromkeys(["/", *nav])), set(), {}
    visited: list[str] = []
    while todo and len(visited) < MAX_PAGES:
        href = todo.pop(0)
        if shape(href) in seen_shapes:
            continue
        seen_shapes.add(shape(href))
        tab.goto(href)
        visited.append(href)
        texts: list[str] = tab.evaluate(TEXTS)
        english = {k: t for k, p in patterns.items() for t in texts if p.search(t)}
        english.update({key: t for t in texts if (key := enums.get(t.lower()))})
        raw = sorted({k for t in texts for k in raw_key.findall(t) if k in keys})
        if english or raw:  # each with the text it was seen in
            found[href] = {"english": dict(sorted(english.items())), "raw keys": raw}
        if href in nav or href == "/":  # one detail page of each kind linked from a section page
            todo.extend(h for h in internal_links(tab, "main a[href]") if shape(h) not in seen_shapes)
    context.close()
    assert len(visited) >= len(nav), visited
    print(f"walked {len(visited)} pages: {visited}")
    assert found == {}, found
