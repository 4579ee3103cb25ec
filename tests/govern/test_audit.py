"""The audit log: every audited action lands in one hash chain, and tampering with any row is named.

Runs on SQLite and PostgreSQL: the chain's hashes must survive each backend's round trip of times and
text, and the head-row lock must keep concurrent appenders linear on both.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability import consumers, gateway, grants, metering
from urbanbrain.cli.main import app
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import AuthenticationRequiredError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import audit, sessions, users
from urbanbrain.govern.principals import ANALYST, Principal
from urbanbrain.meta.db import get_engine

runner = CliRunner()
ALICE = Principal("user", "alice", frozenset({"market"}), frozenset({ANALYST}))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_db")
        monkeypatch.setenv("URBANBRAIN_DATABASE_URL", url)
        get_settings.cache_clear()
    yield request.param
    # write what the gateway buffered while this store exists: the PostgreSQL database is dropped next
    metering.flush_all()
    audit.flush()


def _chain(n: int = 6) -> None:
    for i in range(n):
        audit.record(ALICE, "data.read", f"market.licences.t{i}", {"rows": i, "name": "芙蓉区", "ratio": i / 3})


def _sql(statement: str) -> None:
    with get_engine().begin() as conn:
        conn.execute(text(statement))


def _verify_cli() -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


def test_an_untouched_chain_verifies(store: str) -> None:
    _chain()
    audit.record_read(ALICE, "market.licences.enterprises", ["name", "credit_code"], 40, ["credit_code"], "grant_1")
    result = audit.verify()
    assert result.ok and result.entries == 7 and result.head_seq == 7
    code, output = _verify_cli()
    assert code == 0 and "7 entries" in output and result.head_hash in output.replace("\n", "")
    read = audit.list_entries(action="data.read", limit=1)[0]
    assert read.detail == {"columns": ["name", "credit_code"], "rows": 40, "masked": ["credit_code"],
                           "grant": "grant_1"}


def test_editing_one_column_is_named(store: str) -> None:
    _chain()
    _sql("UPDATE audit_log SET target = 'somewhere.else' WHERE seq = 4")
    code, output = _verify_cli()
    assert code == 1 and "entry 4" in output and "edited" in output and "seq 4" in output
    assert audit.verify().bad_seq == 4


def test_editing_the_detail_is_named_even_when_copied_from_another_row(store: str) -> None:
    _chain()
    _sql("UPDATE audit_log SET detail = '{\"rows\": 0}' WHERE seq = 2")
    assert audit.verify().bad_seq == 2
    _sql("UPDATE audit_log SET detail = (SELECT detail FROM audit_log WHERE seq = 3) WHERE seq = 2")
    assert audit.verify().bad_seq == 2


def test_deleting_a_row_is_named(store: str) -> None:
    _chain()
    _sql("DELETE FROM audit_log WHERE seq = 3")
    code, output = _verify_cli()
    assert code == 1 and "entry 3 missing" in output and "deleted" in output
    assert audit.verify().bad_seq == 3


def test_deleting_the_newest_rows_is_named(store: str) -> None:
    _chain()
    _sql("DELETE FROM audit_log WHERE seq >= 5")
    result = audit.verify()
    assert not result.ok and result.bad_seq == 5 and "at the end were deleted" in (result.problem or "")


def test_reordering_rows_is_named(store: str) -> None:
    _chain()
    # swap the places of entries 2 and 3 (everything but their seq)
    _sql("UPDATE audit_log SET seq = -2 WHERE seq = 2")
    _sql("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    _sql("UPDATE audit_log SET seq = 3 WHERE seq = -2")
    result = audit.verify()
    assert not result.ok and result.bad_seq == 2


def test_concurrent_appends_keep_one_linear_chain(store: str) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                audit.record(Principal("user", f"w{worker}"), "test.append", str(i), buffered=i % 3 == 0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = audit.verify()  # flushes the buffered ones first
    assert result.ok and result.entries == 90 and result.head_seq == 90
    seqs = [e.seq for e in audit.list_entries(limit=None)]
    assert sorted(seqs) == list(range(1, 91))
    for worker in range(6):  # each thread's direct entries, and its buffered ones, keep their order
        mine = [int(e.target) for e in audit.iter_entries(principal=f"user:w{worker}")]
        assert [i for i in mine if i % 3] == [i for i in range(15) if i % 3]
        assert [i for i in mine if not i % 3] == [0, 3, 6, 9, 12]


def test_audited_actions_and_filters(store: str) -> None:
    users_before = utcnow()
    publish_echo()
    app_caller = caller("grid-app", "grid")  # consumer.add, key.create, grant.request, grant.approve
    consumers.revoke_key(app_caller.key[:12])
    users.add_user("li.na", "correct horse battery", roles=[(ANALYST, "grid")])
    with pytest.raises(AuthenticationRequiredError):
        sessions.login("li.na", "wrong horse battery", "10.1.2.3")
    sessions.login("li.na", "correct horse battery", "10.1.2.3")
    other = caller("bus-app", "transport")
    gateway.invoke("echo", 1, {"message": "你好"}, other.key)
    with pytest.raises(AuthenticationRequiredError):
        gateway.invoke("echo", 1, {"message": "x"}, "ubk_not-a-key")
    grants.refuse_grant(grants.request_grant("bus-app", "echo").id, reason="duplicate", department="bigdata")

    actions = [e.action for e in audit.iter_entries()]
    for expected in ("consumer.add", "key.create", "grant.request", "grant.approve", "key.revoke", "user.add",
                     "login.failed", "login", "capability.call", "grant.refuse"):
        assert expected in actions, expected
    calls = audit.list_entries(action="capability.call")
    assert {(c.principal, c.detail["status"]) for c in calls} == {("consumer:bus-app", 200),
                                                                  ("consumer:anonymous", 500)}
    assert {e.action for e in audit.list_entries(action="grant")} == {"grant.request", "grant.approve",
                                                                     "grant.refuse"}
    assert {e.action for e in audit.list_entries(principal="li.na")} == {"login.failed", "login"}
    assert audit.list_entries(since=users_before) and not audit.list_entries(until=users_before)
    assert audit.verify().ok

    exported = runner.invoke(app, ["audit", "export", "--action", "login"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["action"] for r in rows] == ["login.failed", "login"] and rows[0]["principal"] == "user:li.na"
    listed = runner.invoke(app, ["audit", "list", "--principal", "consumer:bus-app", "--format", "json"])
    assert listed.exit_code == 0 and '"capability.call"' in listed.stdout and '"grant.request"' not in listed.stdout
    bad = runner.invoke(app, ["audit", "list", "--since", "yesterday"])
    assert bad.exit_code == 1 and "2026-11-24" in bad.output


def test_held_reads_not_appended_by_their_run_go_to_the_buffer() -> None:
    """`reads_held`: a run that fails before appending its reads still leaves them audited."""
    audit.flush()
    before = len(audit.list_entries(action="data.read", limit=None))
    with audit.reads_held() as held:
        audit.record_read(ALICE, "market.prices.daily", ["price"], 3, False, None, statement="select 1")
        assert len(held) == 1  # held, not queued
    after = audit.list_entries(action="data.read", limit=None)
    assert len(after) == before + 1 and after[0].target == "market.prices.daily"
    assert after[0].detail["sql"] == "select 1" and audit.verify().ok
