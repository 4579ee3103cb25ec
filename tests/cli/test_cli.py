"""The `urbanbrain` command over real sources: an SQLite file each test creates, and PostgreSQL.

Commands are thin, so these tests check what the CLI adds: argument parsing, the four output
formats, exit codes, and that expected errors are one red line without a traceback or a secret.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from urbanbrain.cli.main import app
from urbanbrain.cli.system import parse_options
from urbanbrain.core.errors import ValidationError

runner = CliRunner()


def ub(*args: str) -> tuple[int, str, str]:
    """Run one command in-process; returns (exit code, stdout, stderr)."""
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str) -> str:
    code, out, err = ub(*args)
    assert code == 0, f"{args} exited {code}: {err}{out}"
    return out


@pytest.fixture
def source_db(tmp_path: Path) -> Path:
    path = tmp_path / "licences.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE licences (id INTEGER PRIMARY KEY, holder TEXT, issued TIMESTAMP, fee REAL)")
    conn.executemany("INSERT INTO licences VALUES (?, ?, ?, ?)",
                     [(i, f"商户{i}", f"2024-03-{i % 28 + 1:02d} 09:00:00", i * 2.5) for i in range(1, 41)])
    conn.execute("CREATE TABLE inspections (seq INTEGER, licence_id INTEGER, result TEXT)")
    conn.executemany("INSERT INTO inspections VALUES (?, ?, ?)", [(i, i % 40 + 1, "pass") for i in range(1, 16)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def synced(source_db: Path) -> Path:
    ok("dept", "add", "Market Regulation", "--code", "market")
    ok("system", "add", "licensing", "--dept", "market", "--kind", "sqlite", "--url", f"sqlite:///{source_db}")
    ok("sync", "licensing")
    return source_db


def test_bare_command_prints_help_and_version_works() -> None:
    code, out, _ = ub()
    assert code == 0
    assert "Usage" in out and "system" in out and "sql" in out
    assert ok("version").startswith("urbanbrain ")


def test_full_flow_dept_system_test_discover_sync_sql(source_db: Path, tmp_path: Path) -> None:
    assert "added department market" in ok("dept", "add", "Market Regulation", "--code", "market")
    out = ok("system", "add", "licensing", "--dept", "market", "--kind", "sqlite",
             "--url", f"sqlite:///{source_db}", "--schedule", "every 5m", "--owner", "Li Wei")
    assert "added system licensing" in out
    assert ok("system", "test", "licensing").strip() == "ok: reachable, credentials accepted"

    objects = json.loads(ok("system", "discover", "licensing", "--format", "json"))
    by_name = {o["name"]: o for o in objects}
    assert set(by_name) == {"licences", "inspections"}
    assert by_name["licences"]["columns"] == 4
    assert by_name["licences"]["primary_key"] == ["id"]
    assert by_name["licences"]["row_estimate"] == 40
    assert "incremental by seq" in ok("system", "set-cursor", "licensing", "inspections", "seq")

    code, out, err = ub("sync", "licensing")
    assert code == 0, err
    assert "licences" in out and "TOTAL" in out and "succeeded" in out
    assert "55 rows written" in out
    assert "licences" in err  # the progress bars go to stderr, keeping stdout for the summary

    text = ok("sql", "SELECT id, holder, fee FROM market.licensing.licences ORDER BY id LIMIT 3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0] == {"id": "1", "holder": "商户1", "fee": "2.5"}
    assert len(rows) == 3

    data = json.loads(ok("sql", "SELECT id, issued FROM market.licensing.licences ORDER BY id", "-f", "json",
                         "--max-rows", "2"))
    assert data == [{"id": 1, "issued": "2024-03-02T09:00:00"}, {"id": 2, "issued": "2024-03-03T09:00:00"}]

    target = tmp_path / "out.parquet"
    ok("sql", "SELECT * FROM market.licensing.licences", "--format", "parquet", "--output", str(target))
    table = pq.read_table(target)
    assert table.num_rows == 40 and "holder" in table.column_names

    result = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM market.licensing.inspections", "-f", "parquet"])
    assert result.exit_code == 0
    assert pq.read_table(io.BytesIO(result.stdout_bytes)).to_pylist() == [{"n": 15}]

    assert "商户1" in ok("sql", "SELECT holder FROM market.licensing.licences WHERE id = 1")


def test_every_listing_command_speaks_every_format(synced: Path, tmp_path: Path) -> None:
    run_id = json.loads(ok("runs", "list", "-f", "json"))[0]["id"]
    listings = [
        ["dept", "list"],
        ["system", "list"],
        ["system", "list", "--dept", "market"],
        ["system", "discover", "licensing"],
        ["system", "objects", "licensing"],
        ["dataset", "list"],
        ["dataset", "list", "--search", "holder"],
        ["dataset", "preview", "market.licensing.licences", "--limit", "5"],
        ["runs", "list", "--system", "licensing", "--status", "succeeded", "--limit", "5"],
        ["sql", "SELECT id FROM market.licensing.licences ORDER BY id LIMIT 4"],
    ]
    for command in listings:
        table = ok(*command, "--format", "table")
        assert "┃" in table or "│" in table, command
        as_json = json.loads(ok(*command, "--format", "json"))
        assert isinstance(as_json, list) and as_json and isinstance(as_json[0], dict), command
        as_csv = list(csv.DictReader(io.StringIO(ok(*command, "--format", "csv"))))
        assert len(as_csv) == len(as_json), command
        assert list(as_csv[0]) == list(as_json[0]), command
        target = tmp_path / "listing.parquet"
        ok(*command, "--format", "parquet", "--output", str(target))
        assert pq.read_table(target).num_rows == len(as_json), command
    datetimes = json.loads(ok("runs", "list", "-f", "json"))[0]["started_at"]
    assert "T" in datetimes  # ISO 8601
    assert run_id in ok("runs", "show", run_id)
    assert json.loads(ok("runs", "show", run_id, "-f", "json"))[0]["objects"]
    assert "licensing" in ok("dataset", "list", "--dept", "market")


def test_show_commands(synced: Path) -> None:
    out = ok("system", "show", "licensing")
    assert "sqlite:///" in out and "healthy" in out
    shown = ok("dataset", "show", "market.licensing.licences")
    assert "Schema" in shown and "Lineage" in shown and "holder" in shown and "sqlite" in shown
    detail = json.loads(ok("dataset", "show", "market.licensing.licences", "-f", "json"))[0]
    assert detail["lineage"]["system"] == "licensing"
    assert "market" in ok("dept", "show", "market")


def test_incremental_second_sync_and_full_refresh(synced: Path) -> None:
    conn = sqlite3.connect(synced)
    conn.execute("INSERT INTO licences VALUES (41, '新商户', '2024-04-01 09:00:00', 1.0)")
    conn.commit()
    conn.close()
    out = ok("sync", "licensing", "--object", "licences", "-f", "json")
    rows = {r["object"]: r for r in json.loads(out)}
    assert rows["licences"]["mode"] == "merge"
    assert rows["TOTAL"]["status"] == "succeeded"
    out = ok("sync", "licensing", "--object", "licences", "--full-refresh", "-f", "json")
    assert json.loads(out)[0]["mode"] == "replace"
    assert json.loads(ok("sql", "SELECT count(*) n FROM market.licensing.licences", "-f", "json")) == [{"n": 41}]


def test_partial_sync_exits_1_with_the_error(synced: Path) -> None:
    conn = sqlite3.connect(synced)
    conn.execute("DROP TABLE inspections")
    conn.commit()
    conn.close()
    code, out, err = ub("sync", "licensing")
    assert code == 1
    assert "partial" in out and "inspections" in out
    assert "error:" in err and "inspections" in err
    runs = json.loads(ok("runs", "list", "--status", "partial", "-f", "json"))
    assert len(runs) == 1


def test_expected_errors_are_one_red_line_exit_1(source_db: Path) -> None:
    ok("dept", "add", "Market Regulation", "--code", "market")
    url = f"sqlite:///{source_db}"
    ok("system", "add", "licensing", "--dept", "market", "--kind", "sqlite", "--url", url)

    code, out, err = ub("system", "add", "licensing", "--dept", "market", "--kind", "sqlite", "--url", url)
    assert code == 1
    assert err.startswith("error: a system named 'licensing' already exists")
    assert "hint:" in err and "Traceback" not in err + out

    code, _, err = ub("system", "add", "other", "--dept", "market", "--kind", "sqlite", "--url", url,
                      "--schedule", "every potato")
    assert code == 1 and "malformed schedule 'every potato'" in err

    code, _, err = ub("system", "show", "nope")
    assert code == 1 and "no system named 'nope'" in err
    code, _, err = ub("system", "add", "x", "--dept", "nowhere", "--kind", "sqlite", "--url", url)
    assert code == 1 and "no department with code 'nowhere'" in err
    code, _, err = ub("system", "add", "y", "--dept", "market", "--kind", "carrier-pigeon", "--url", url)
    assert code == 1 and "carrier-pigeon" in err
    code, _, err = ub("sync", "licensing", "--object", "no_such_table")
    assert code == 1 and "no_such_table" in err
    code, _, err = ub("dataset", "show", "market.nope.nothing")
    assert code == 1 and "no dataset named" in err
    code, _, err = ub("runs", "show", "run_nope")
    assert code == 1 and "no sync run" in err
    code, _, err = ub("system", "set-cursor", "licensing", "licences")
    assert code == 1 and "COLUMN or --none" in err
    code, _, err = ub("system", "add", "z", "--dept", "market", "--kind", "sqlite", "--option", "novalue")
    assert code == 1 and "key=value" in err


def test_sql_refuses_writes_and_files_outside_the_lake(synced: Path) -> None:
    code, _, err = ub("sql", "DELETE FROM market.licensing.licences")
    assert code == 1 and "only SELECT" in err
    code, _, err = ub("sql", "SELECT * FROM read_csv('/etc/passwd')", "-f", "csv")
    assert code == 1 and "outside the lake" in err and "root:" not in err
    code, _, err = ub("sql", "SELEC nonsense")
    assert code == 1 and "error:" in err


def test_set_cursor_update_remove_and_drop(source_db: Path) -> None:
    ok("dept", "add", "Market Regulation", "--code", "market")
    ok("system", "add", "licensing", "--dept", "market", "--kind", "sqlite", "--url", f"sqlite:///{source_db}")
    ok("system", "discover", "licensing")
    assert "full refresh" in ok("system", "set-cursor", "licensing", "licences", "--none")
    objects = {o["name"]: o for o in json.loads(ok("system", "objects", "licensing", "-f", "json"))}
    assert objects["licences"]["cursor_column"] is None

    out = ok("system", "update", "licensing", "--schedule", "every 2h", "--owner", "Zhang")
    assert "every 2h" in out
    shown = json.loads(ok("system", "show", "licensing", "-f", "json"))[0]
    assert shown["owner"] == "Zhang" and shown["schedule"] == "every 2h"
    code, _, err = ub("system", "update", "licensing", "--schedule", "*/99 * *")
    assert code == 1 and "malformed schedule" in err

    ok("sync", "licensing")
    assert "dropped" in ok("dataset", "drop", "market.licensing.inspections", "--yes")
    names = [d["name"] for d in json.loads(ok("dataset", "list", "-f", "json"))]
    assert "market.licensing.inspections" not in names and "market.licensing.licences" in names

    ok("system", "add", "spare", "--dept", "market", "--kind", "sqlite", "--url", f"sqlite:///{source_db}")
    assert "removed" in ok("system", "remove", "spare", "--yes")
    assert [s["name"] for s in json.loads(ok("system", "list", "-f", "json"))] == ["licensing"]


def test_parse_options_merges_file_then_pairs_then_flags(tmp_path: Path) -> None:
    options_file = tmp_path / "opts.json"
    options_file.write_text(json.dumps({"url": "sqlite:///old.db", "timeout": 5, "tables": ["a"]}))
    options = parse_options("sqlite:///new.db", None, ["timeout=10", "tables=[\"x\", \"y\"]", "label=plain text",
                                                       "flag=true"], options_file)
    assert options == {"url": "sqlite:///new.db", "timeout": 10, "tables": ["x", "y"], "label": "plain text",
                       "flag": True}
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValidationError):
        parse_options(None, None, None, bad)


def test_options_file_and_home_option(source_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options_file = tmp_path / "conn.json"
    options_file.write_text(json.dumps({"url": f"sqlite:///{source_db}", "tables": ["licences"]}))
    other_home = tmp_path / "elsewhere"
    ok("--home", str(other_home), "dept", "add", "Transport", "--code", "transport")
    ok("--home", str(other_home), "system", "add", "buses", "--dept", "transport", "--kind", "sqlite",
       "--options-file", str(options_file))
    assert (other_home / "metadata.db").exists()
    assert os.environ["URBANBRAIN_HOME"] == str(other_home.resolve())
    objects = json.loads(ok("system", "discover", "buses", "-f", "json"))
    assert [o["name"] for o in objects] == ["licences"]  # the "tables" option from the file took effect


def test_worker_once_runs_due_systems(source_db: Path) -> None:
    ok("dept", "add", "Market Regulation", "--code", "market")
    ok("system", "add", "licensing", "--dept", "market", "--kind", "sqlite", "--url", f"sqlite:///{source_db}",
       "--schedule", "every 1s")
    time.sleep(1.2)
    ok("worker", "--once", "--concurrency", "1")
    runs = json.loads(ok("runs", "list", "-f", "json"))
    assert [(r["trigger"], r["status"]) for r in runs] == [("schedule", "succeeded")]


def test_console_script_end_to_end(source_db: Path, tmp_path: Path) -> None:
    """The installed entry point, as a user runs it: exit codes and bytes on real stdout/stderr."""
    exe = Path(sys.executable).with_name("urbanbrain")
    home = tmp_path / "e2e-home"

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(exe), "--home", str(home), *args], capture_output=True, timeout=120)

    assert run("dept", "add", "Market Regulation", "--code", "market").returncode == 0
    assert run("system", "add", "licensing", "--dept", "market", "--kind", "sqlite",
               "--url", f"sqlite:///{source_db}").returncode == 0
    assert run("sync", "licensing").returncode == 0
    done = run("sql", "SELECT count(*) AS n FROM market.licensing.licences", "--format", "parquet")
    assert done.returncode == 0
    assert pq.read_table(io.BytesIO(done.stdout)).to_pylist() == [{"n": 40}]
    failed = run("system", "add", "licensing", "--dept", "market", "--kind", "sqlite",
                 "--url", f"sqlite:///{source_db}")
    assert failed.returncode == 1
    assert failed.stderr.decode().startswith("error: a system named 'licensing' already exists")
    assert b"Traceback" not in failed.stderr


@pytest.mark.postgres
def test_postgres_flow_and_bad_password_never_printed(pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE permits (id bigint PRIMARY KEY, holder text, amount numeric(12,2), "
                     "updated_at timestamptz)")
        conn.execute("INSERT INTO permits SELECT g, 'holder ' || g, g * 1.25, now() FROM generate_series(1, 25) g")
    ok("dept", "add", "Housing", "--code", "housing")
    ok("system", "add", "permits-db", "--dept", "housing", "--kind", "postgres", "--url", pg_db)
    assert "ok:" in ok("system", "test", "permits-db")
    assert "25 rows written" in ok("sync", "permits-db")
    assert json.loads(ok("sql", "SELECT count(*) n, sum(amount) s FROM housing.permits_db.permits", "-f", "json")) \
        == [{"n": 25, "s": "406.25"}]

    password = "Sup3rSecretPw"
    bad_url = pg_db.replace("postgres@", f"no_such_role:{password}@")
    ok("system", "add", "permits-bad", "--dept", "housing", "--kind", "postgres", "--url", bad_url)
    for command in (["system", "test", "permits-bad"], ["system", "discover", "permits-bad"],
                    ["sync", "permits-bad"], ["system", "show", "permits-bad"], ["system", "list"],
                    ["runs", "list", "-f", "json"]):
        code, out, err = ub(*command)
        assert password not in out + err, command
    code, out, err = ub("system", "test", "permits-bad")
    assert code == 1
    assert "refused the credentials" in err and "permits-bad" in err
    assert password not in out + err
