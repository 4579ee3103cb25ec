"""The demo's live case loop: reports and alerts arrive, most are dispatched automatically, simulated
people work them on a compressed clock; the thread starts late and stops at once."""

from __future__ import annotations

import time

from urbanbrain.demo.live_cases import LiveLoop
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.operate import sla
from urbanbrain.operate.cases import list_cases


def test_the_loop_brings_reports_and_works_them() -> None:
    loop = LiveLoop(speed=3600, per_day=12, seed=5, sweep_seconds=0)  # 1 simulated minute = 1/60 s
    loop.setup()
    assert sla.policy_for("噪音扰民", "normal").respond_minutes == 1  # type: ignore[union-attr]  # 1 h / 3600
    t = 1000.0
    loop.step(t)
    for _ in range(40):  # 40 ticks of 2 simulated hours: ~40 reports, and the actions that follow them
        t += 2.0
        loop.step(t)
    s = loop.stats
    assert 20 <= s.reports + s.alerts <= 80 and s.alerts >= 1
    assert s.auto_dispatched > (s.reports + s.alerts) / 2 and s.inbox >= 1
    assert s.actions > s.reports and s.closed >= 5 and s.errors == 0
    cases = list_cases(SYSTEM, limit=500)
    assert {"closed"} < {c["status"] for c in cases}
    assert any(c["channel"] == "alert" for c in cases)


def test_the_thread_waits_for_the_console_and_stops_promptly() -> None:
    loop = LiveLoop(speed=60).start(delay=30)  # would begin in 30 s
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 2 and loop.stats.reports == 0


def test_demo_can_serve_without_the_live_loop() -> None:
    from typer.testing import CliRunner

    from urbanbrain.cli.main import app

    out = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
    assert "--no-simulate" in out and "--speed" in out
