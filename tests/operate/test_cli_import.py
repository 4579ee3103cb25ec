"""The CLI end to end: a synced ticket table imported (incrementally, idempotently), worked, closed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tests.capability.builtins.lake import sqlite_dataset
from urbanbrain.cli.main import app

runner = CliRunner()
TICKETS = [
    {"ticket_id": "GD0001", "created_at": "2026-03-02 09:10:00", "content": "五一大道路灯不亮", "category": "路灯",
     "address": "长沙市芙蓉区五一大道100号", "district": "芙蓉区", "caller_name": "王伟"},
    {"ticket_id": "GD0002", "created_at": "2026-03-02 09:20:00", "content": "小区噪音扰民", "category": "噪音扰民",
     "address": "长沙市岳麓区麓山南路2号", "district": "岳麓区", "caller_name": "李娜"},
    {"ticket_id": "GD0003", "created_at": "2026-03-02 09:30:00", "content": "北京的问题", "category": "路灯",
     "address": "北京市朝阳区建国路1号", "district": "朝阳区", "caller_name": "张强"},
]


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_import_work_and_close_from_the_shell(tmp_path: Path) -> None:
    ds = sqlite_dataset(tmp_path, "hotline", "hotline-12345", "tickets", TICKETS[:2])
    make_departments_except_hotline()
    cli("dispatch", "rule", "路灯", "urban")
    cli("sla", "set", "*", "--respond", "1h", "--resolve", "5d", "--working-hours")
    out = cli("case", "import", ds)
    assert "read 2, created 2 (1 dispatched automatically)" in out
    assert "read 0, created 0" in cli("case", "import", ds)  # incremental: nothing new
    conn = sqlite3.connect(tmp_path / "hotline-12345.db")
    conn.execute("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?)", tuple(TICKETS[2].values()))
    conn.commit()
    conn.close()
    from urbanbrain.sync.runner import run_sync

    assert run_sync("hotline-12345").status == "succeeded"
    out = cli("case", "import", ds)
    assert "read 1, created 0" in out and "refused 1" in out and "GD0003: the address" in out
    cases = json.loads(cli("case", "list", "--status", "open", "-f", "json"))
    assert len(cases) == 2
    lamp = next(c for c in cases if c["category"] == "路灯")
    assert lamp["status"] == "dispatched" and lamp["department"] == "urban"
    cid = lamp["id"]
    cli("case", "accept", cid, "--as", "operator@urban", "--version", "2")
    stale = runner.invoke(app, ["case", "return", cid, "--reason", "x", "--as", "operator@urban", "--version", "2"])
    assert stale.exit_code == 1 and "version 3, you acted on version 2" in stale.output
    denied = runner.invoke(app, ["case", "feedback", cid, "--note", "fixed", "--as", "operator@housing"])
    assert denied.exit_code == 1 and "may not case.feedback" in denied.output
    cli("case", "feedback", cid, "--note", "lamp replaced", "--as", "operator@urban")
    cli("case", "rate", cid, "--satisfaction", "5", "--as", "operator@hotline")
    assert "closed" in cli("case", "close", cid, "--as", "operator@hotline")
    shown = cli("case", "show", cid)
    for step in ("create", "dispatch", "accept", "feedback", "rate", "close"):
        assert step in shown


def make_departments_except_hotline() -> None:
    """The dataset helper registered the hotline department already."""
    from urbanbrain.meta.departments import add_department

    for code, name in (("urban", "城管"), ("housing", "住建")):
        add_department(name, code)

