"""The CLI acting as someone (`--as`) obeys the same rules as the API; only a platform admin may act
for others; the shell operator without `--as` stays SYSTEM."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from urbanbrain.cli.acting import acting_principal
from urbanbrain.cli.main import app
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern import audit, users
from urbanbrain.govern.principals import ANALYST, STEWARD, Principal
from urbanbrain.meta.departments import add_department

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    add_department("Market Regulation", "market")
    add_department("Public Security", "police")
    path = tmp_path / "shops.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE shops (id INTEGER PRIMARY KEY)")
    conn.close()
    return path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_as_a_role_is_checked_like_the_api(db: Path) -> None:
    code, out = _run("--as", "analyst@market", "system", "add", "shops", "--dept", "market", "--kind", "sqlite",
                     "--url", f"sqlite:///{db}")
    assert code == 1 and "may not system.add" in out
    code, out = _run("--as", "dept_admin@market", "system", "add", "shops", "--dept", "police", "--kind", "sqlite",
                     "--url", f"sqlite:///{db}")
    assert code == 1 and "department 'police'" in out
    code, out = _run("--as", "dept_admin@market", "system", "add", "shops", "--dept", "market", "--kind", "sqlite",
                     "--url", f"sqlite:///{db}")
    assert code == 0, out
    assert audit.list_entries(action="system.add")[0].principal == "user:cli:dept_admin@market"
    code, out = _run("--as", "dept_admin@market", "dept", "add", "Transport", "--code", "transport")
    assert code == 1 and "department.create" in out


def test_as_a_real_user_takes_exactly_their_roles(db: Path) -> None:
    users.add_user("li.na", "a long enough passphrase", roles=[(STEWARD, "police")])
    code, out = _run("--as", "li.na", "dept", "add", "Transport", "--code", "transport")
    assert code == 1 and "user:li.na may not department.create" in out
    code, out = _run("--as", "nobody.here", "dept", "list")
    assert code == 1 and "no user named" in out
    code, out = _run("dept", "add", "Transport", "--code", "transport")  # the shell operator: SYSTEM
    assert code == 0, out
    assert audit.list_entries(action="department.create")[0].principal.startswith("system:shell:")


def test_only_a_platform_admin_may_act_for_others() -> None:
    token = audit.set_actor(Principal("user", "ana", frozenset({"market"}), frozenset({ANALYST})))
    try:
        with pytest.raises(PermissionDeniedError, match=r"cli\.act_as"):
            acting_principal("dept_admin@market")
        assert acting_principal(None).name == "ana"
    finally:
        audit.reset_actor(token)
