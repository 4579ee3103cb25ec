"""The console in a real browser: charts draw, sync-now completes, the workbench answers, the language
switches, and a department leads to a system and on to a dataset. Screenshots are saved for a human look.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CANVAS_DRAWN = """(id) => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas) return false;
  const box = canvas.getBoundingClientRect();
  return canvas.width > 0 && canvas.height > 0 && box.width > 0 && box.height > 0;
}"""


def test_overview_charts_render(page: Any, shots: Path) -> None:
    page.goto("/")
    assert page.locator("h1").inner_text() == "City overview"
    for chart in ("chart-departments", "chart-ingest"):
        page.wait_for_function(CANVAS_DRAWN, arg=chart)
        box = page.locator(f"#{chart} canvas").first.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, (chart, box)
    assert page.locator("#figures .figure").count() == 6
    assert "3,000" in page.locator("#figures").inner_text()  # 1200 + 900 + 300 + 600 records
    page.locator("#ingest-tabs .tab[data-span=daily]").click()
    page.wait_for_function(CANVAS_DRAWN, arg="chart-ingest")
    page.locator("#ingest-tabs .tab[data-span=hourly]").click()
    page.wait_for_timeout(500)  # let ECharts finish its entry animation before the picture
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_sync_now_shows_success(page: Any, shots: Path) -> None:
    page.goto("/systems")
    row = page.locator("#system-hotline")
    row.get_by_role("button", name="Sync now").click()
    page.wait_for_selector("#system-hotline .status-succeeded", timeout=60_000)
    assert "written" in page.locator("#system-hotline").inner_text()
    page.screenshot(path=str(shots / "systems.png"), full_page=True)
    page.goto("/runs?system=hotline")
    assert page.locator("#runs-table tbody tr").count() == 2


def test_workbench_runs_a_query_and_shows_errors(page: Any, shots: Path) -> None:
    page.goto("/sql")
    page.fill("#sql-input", "SELECT district, count(*) AS tickets, sum(amount) AS amount\n"
                            "FROM citizen.hotline.tickets GROUP BY district ORDER BY district")
    page.get_by_role("button", name="Run", exact=True).click()
    table = page.locator("#sql-result table")
    table.wait_for()
    assert table.locator("tbody tr").count() == 4
    assert "芙蓉区" in table.inner_text() and "300" in table.inner_text()
    href = page.locator("#sql-result a[download]").get_attribute("href")
    assert href and href.startswith("/sql/download?q=SELECT")
    page.screenshot(path=str(shots / "workbench.png"), full_page=True)

    page.fill("#sql-input", "DELETE FROM citizen.hotline.tickets")
    page.keyboard.press("Control+Enter")  # the shortcut runs it too
    alert = page.locator("#sql-result .alert")
    alert.wait_for()
    assert "ReadOnlyViolationError" in alert.inner_text() and "only SELECT" in alert.inner_text()


def test_switch_language_to_chinese(page: Any, shots: Path) -> None:
    page.goto("/datasets")
    page.get_by_role("link", name="中文").click()
    page.wait_for_url(re.compile(r"/datasets$"))
    assert page.locator("h1").inner_text() == "数据湖中的数据集"
    assert page.locator("nav.nav a.active").inner_text() == "数据集"
    page.goto("/")
    assert page.locator("h1").inner_text() == "城市数据总览"
    page.wait_for_function(CANVAS_DRAWN, arg="chart-departments")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "overview-zh.png"), full_page=True)
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "City overview"


def test_follow_department_to_system_to_dataset(page: Any, shots: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="市场监督管理局").click()
    page.wait_for_url(re.compile(r"/systems\?dept=market$"))
    page.locator("#system-licences").get_by_role("link", name="licences").click()
    page.wait_for_url(re.compile(r"/systems/licences$"))
    page.get_by_role("link", name="market.licences.enterprises").click()
    page.wait_for_url(re.compile(r"/datasets/market\.licences\.enterprises$"))
    assert "900" in page.locator(".figures").inner_text()
    assert page.locator("table.data tbody tr").count() == 20  # the preview
    page.screenshot(path=str(shots / "dataset.png"), full_page=True)

    page.goto("/datasets")
    page.fill("input[name=q]", "amount")  # live search by column, without pressing Enter
    page.wait_for_function("() => document.querySelectorAll('#dataset-results tbody tr').length === 4")
    page.fill("input[name=q]", "enterprises")
    page.wait_for_function("() => document.querySelectorAll('#dataset-results tbody tr').length === 1")
    assert "q=enterprises" in page.url
