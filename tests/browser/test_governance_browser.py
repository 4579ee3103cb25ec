"""Issue acceptance, in Chromium: a steward confirms a proposed PII type and approves a field request;
the requester, who could not see the field before, sees it after, in the dataset's preview."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.govern.city import id_number
from tests.sync.helpers import register
from urbanbrain.govern import classification as cls
from urbanbrain.govern import sharing, users
from urbanbrain.govern.principals import ANALYST, STEWARD, Principal
from urbanbrain.sync.runner import run_sync

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
RESIDENTS = "police.hukou.residents"
MOBILES = [f"139{i:08d}" for i in range(40)]


@pytest.fixture
def city(tmp_path: Path) -> list[str]:
    """Overrides the browser suite's city: police residents with PII, synced; proposals come from the sync."""
    db = tmp_path / "police.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE residents (id INTEGER PRIMARY KEY, id_number TEXT, mobile TEXT, district TEXT)")
    conn.executemany("INSERT INTO residents VALUES (?, ?, ?, ?)",
                     [(i, id_number(i), MOBILES[i], "岳麓区") for i in range(40)])
    conn.commit()
    conn.close()
    register("hukou", "sqlite", {"url": f"sqlite:///{db}"}, dept="police")
    assert run_sync("hukou").status == "succeeded"
    register("buses", "sqlite", {"url": f"sqlite:///{db}"}, dept="transport")  # so the department exists
    cls.set_default_level(RESIDENTS, "open")
    users.add_user("steve", PASSWORD, roles=[(STEWARD, "police")])
    users.add_user("ana", PASSWORD, roles=[(ANALYST, "transport")])
    ana = Principal("user", "ana", frozenset({"transport"}), frozenset({ANALYST}))
    sharing.request_fields(RESIDENTS, ["mobile"], "bus pass renewals by text message", 30, by=ana, unmasked=True)
    return [RESIDENTS]


def _login(page: Any, name: str, next_path: str) -> None:
    page.goto(next_path)
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")


def _preview_columns(page: Any) -> list[str]:
    return [c.strip() for c in page.locator("table.data thead th").all_inner_texts()]


def test_steward_confirms_pii_and_approves_then_requester_sees_the_field(page: Any, shots: Path) -> None:
    dataset_page = f"/datasets/{RESIDENTS}"
    _login(page, "ana", dataset_page)  # before: the conditional field is not in ana's view at all
    columns = _preview_columns(page)
    assert "district" in columns and "mobile" not in columns and "id_number" not in columns
    assert MOBILES[0] not in page.content()
    page.locator("#logout").click()
    page.wait_for_url("**/login")

    _login(page, "steve", dataset_page)
    mobile_row = page.locator("tr", has=page.locator("td.mono", has_text="mobile")).first
    assert "proposed" in mobile_row.inner_text().lower()
    mobile_row.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    mobile_row = page.locator("tr", has=page.locator("td.mono", has_text="mobile")).first
    assert mobile_row.get_by_role("button", name="Confirm").count() == 0
    fields = {f.column: f for f in cls.get_classification(RESIDENTS)[1]}
    assert fields["mobile"].status == "confirmed" and fields["mobile"].pii_type == "mobile"
    assert fields["id_number"].status == "proposed"  # only what the steward confirmed

    page.goto("/sharing")
    pending = page.locator("#sharing-pending tbody tr").first
    assert "bus pass renewals" in pending.inner_text()
    pending.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "approved" in page.locator("#sharing-history").inner_text()
    page.screenshot(path=str(shots / "sharing-approved.png"), full_page=True)
    page.locator("#logout").click()
    page.wait_for_url("**/login")

    _login(page, "ana", dataset_page)  # after: the approved field is there, in clear as requested
    assert "mobile" in _preview_columns(page)
    assert MOBILES[0] in page.locator("table.data").inner_text()
    assert "id_number" not in _preview_columns(page)
    page.screenshot(path=str(shots / "requester-sees-mobile.png"), full_page=True)
