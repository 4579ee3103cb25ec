"""The stream CLI end to end: feed add/list/status/dead-letters, rule add/list, alert list/ack/clear, live."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from urbanbrain.cli.main import app
from urbanbrain.stream import service
from urbanbrain.stream.feeds.http import HttpFeed, push
from urbanbrain.stream.pipeline import FeedRunner

from .helpers import air, ensure_dept, unique

cli = CliRunner()


def ub(*args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def test_feed_rule_alert_and_live_commands(tmp_path: Path) -> None:
    ensure_dept("ecology")
    name = unique("cli")
    code, out = ub("feed", "add", name, "--dept", "ecology", "--kind", "http", "--model", "AirQualityObserved")
    assert code == 0 and "push key (shown once)" in out and f"ecology.{name.replace('-', '_')}.observations" in out
    code, out = ub("feed", "add", unique("x"), "--dept", "ecology", "--kind", "carrier-pigeon")
    assert code == 1 and "unknown feed kind 'carrier-pigeon'" in out and "http, mqtt, nats" in out
    code, out = ub("feed", "add", unique("x"), "--dept", "ecology", "--kind", "mqtt", "--qos", "2")
    assert code == 1 and "QoS 2 is not supported" in out
    code, out = ub("rule", "add", f"hot-{name}", "--feed", name, "--when", "pm25 > 75", "--severity", "major")
    assert code == 0
    code, out = ub("rule", "add", f"bad-{name}", "--feed", name, "--when", "pm25 very high")
    assert code == 1 and "cannot read the rule" in out

    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    push(name, json.dumps([air("s1", 1, pm25=90.0), air("s2", 1, pm25=10.0)]).encode())
    push(name, b"not json")
    runner.stop()

    code, out = ub("feed", "list", "--format", "json")
    row = next(r for r in json.loads(out) if r["name"] == name)
    assert (row["devices"], row["readings"], row["dead_letters"]) == (2, 2, 1)
    code, out = ub("feed", "status", name, "--format", "json")
    assert code == 0 and json.loads(out)["recent_dead_letters"][0]["reason"].startswith("malformed JSON")
    code, out = ub("live", "AirQualityObserved", "--feed", name, "--near", "-3.71,40.42", "--max-distance", "3km",
                   "--where", "pm25=>50", "--format", "json")
    assert code == 0 and [d["device_id"] for d in json.loads(out)] == ["s1"]
    code, out = ub("alert", "list", "--format", "json")
    (alert,) = [a for a in json.loads(out) if a["feed"] == name]
    assert alert["device_id"] == "s1" and alert["severity"] == "major"
    code, out = ub("alert", "ack", alert["id"], "--as", "operator@transport")
    assert code == 1 and "may not alert.acknowledge" in out
    code, out = ub("alert", "ack", alert["id"], "--as", "operator@ecology")
    assert code == 0
    code, out = ub("alert", "clear", alert["id"], "--as", "operator@transport")
    assert code == 1 and "may not alert.clear" in out
    code, out = ub("alert", "clear", alert["id"], "--as", "operator@ecology")
    assert code == 0 and "cleared" in out
    code, out = ub("alert", "list", "--status", "cleared", "--format", "json")
    assert [a["id"] for a in json.loads(out) if a["feed"] == name] == [alert["id"]]
    dataset = f"ecology.{name.replace('-', '_')}.observations"
    code, out = ub("sql", "--format", "json", f"SELECT count(*) AS n FROM {dataset}")
    assert code == 0 and json.loads(out)[0]["n"] == 2
