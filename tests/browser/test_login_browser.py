"""Logging in through the real page in Chromium: the redirect, a refused password, the session cookie's
flags, the audit page showing the login, and logging out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from urbanbrain.govern import sessions, users
from urbanbrain.govern.principals import STEWARD

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def test_steward_logs_in_sees_the_audit_log_and_logs_out(page: Any, shots: Path) -> None:
    users.add_user("li.na", PASSWORD, roles=[(STEWARD, "market")])
    page.goto("/datasets")
    page.wait_for_url("**/login?next=%2Fdatasets")
    page.fill("#login-name", "li.na")
    page.fill("#login-password", "not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "wrong user name or password" in page.locator("#login-error").inner_text()
    page.fill("#login-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/datasets")
    assert page.locator("#whoami").inner_text() == "Signed in as li.na"
    cookie = next(c for c in page.context.cookies() if c["name"] == sessions.COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find(sessions.COOKIE) == -1  # scripts cannot read it

    page.get_by_role("link", name="Audit").click()
    page.fill("input[name=action]", "login")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() == 2
    assert "login.failed" in rows.nth(1).inner_text() and "user:li.na" in rows.nth(0).inner_text()
    page.screenshot(path=str(shots / "audit.png"), full_page=True)

    page.locator("#logout").click()
    page.wait_for_url("**/login")
    page.goto("/")
    page.wait_for_url("**/login?next=%2F")
