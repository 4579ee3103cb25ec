"""Issue acceptance, in Chromium: dispatcher → department → close, each as a signed-in user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from urbanbrain.govern import users
from urbanbrain.govern.principals import DEPT_ADMIN, OPERATOR, SYSTEM
from urbanbrain.meta.departments import add_department
from urbanbrain.operate import catalogue
from urbanbrain.operate.cases import Report
from urbanbrain.operate.intake.base import submit

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def city() -> list[str]:
    """Overrides the browser suite's city: the operations centre, one department, one case in the inbox."""
    add_department("12345热线", "hotline")
    add_department("城管", "urban")
    catalogue.set_rule(SYSTEM, "路灯", "urban")
    users.add_user("disp", PASSWORD, roles=[(OPERATOR, "hotline"), (DEPT_ADMIN, "hotline")])
    users.add_user("han", PASSWORD, roles=[(OPERATOR, "urban")])
    case, _ = submit(Report("五一大道100号路灯不亮", "form", "b1", lon=112.98, lat=28.2), SYSTEM)  # no category
    assert case["status"] == "new"
    return [case["id"]]


def _login(page: Any, name: str, next_path: str) -> None:
    page.goto(next_path)
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")


def _logout(page: Any) -> None:
    page.locator("#logout").click()
    page.wait_for_url("**/login")


def _png() -> bytes:
    """A real 8×8 PNG, so the browser draws the thumbnail."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + b"\x20\x80\xe0" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_dispatcher_department_close(page: Any, city: list[str], shots: Path, tmp_path: Path) -> None:
    cid = city[0]
    photo = tmp_path / "after.png"
    photo.write_bytes(_png())
    _login(page, "disp", "/cases")
    assert cid in page.locator("#cases-table").inner_text()  # the dispatcher's inbox
    page.locator("#cases-table a", has_text=cid).click()
    page.wait_for_url(f"**/cases/{cid}")
    page.wait_for_selector("#case-map[data-ready]")  # the one city map drew the districts and the point
    assert int(page.locator("#case-map").get_attribute("data-ready") or 0) >= 9
    page.locator("#case-map-panel").screenshot(path=str(shots / "case-map.png"))
    page.locator("#act-dispatch select[name=department]").select_option("urban")
    page.locator("#act-dispatch").get_by_role("button", name="Dispatch").click()
    page.wait_for_url(f"**/cases/{cid}")
    assert page.locator("#case-department").inner_text().strip() == "城管"  # shown by name
    assert page.locator("#case-department").get_attribute("data-code") == "urban"
    _logout(page)

    _login(page, "han", "/cases")
    assert cid in page.locator("#cases-table").inner_text()  # the department's queue
    page.goto(f"/cases/{cid}")
    assert page.locator("#act-dispatch").count() == 0  # a handler cannot dispatch
    page.locator("#act-accept").get_by_role("button", name="Accept").click()
    page.wait_for_url(f"**/cases/{cid}")
    page.locator("#act-feedback input[name=note]").fill("灯泡已更换")
    page.locator("#feedback-photos").set_input_files(str(photo))  # the department reports back with a photo
    page.locator("#act-feedback").get_by_role("button", name="Report back (resolved)").click()
    page.wait_for_url(f"**/cases/{cid}")
    assert "Resolved" in page.locator("h1").inner_text()
    thumb = page.locator("#case-attachments img")
    assert thumb.count() == 1 and thumb.get_attribute("alt") == "after.png"
    page.wait_for_function("() => document.querySelector('#case-attachments img').naturalWidth === 8")
    _logout(page)

    _login(page, "disp", f"/cases/{cid}")
    page.locator("#act-rate select[name=satisfaction]").select_option("5")
    page.locator("#act-rate").get_by_role("button", name="Record satisfaction").click()
    page.wait_for_url(f"**/cases/{cid}")
    page.locator("#act-close").get_by_role("button", name="Close").click()
    page.wait_for_url(f"**/cases/{cid}")
    assert "Closed" in page.locator("h1").inner_text()
    timeline = page.locator("#case-timeline").inner_text()
    for step in ("create", "dispatch", "accept", "feedback", "rate", "close"):
        assert step in timeline
    page.screenshot(path=str(shots / "case-closed.png"), full_page=True)
