"""The audit chain is keyed and anchorable: rewriting the log and its head is detected (issue 11, #6)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text, update
from typer.testing import CliRunner

from tests.govern.city import City
from urbanbrain.cli.main import app
from urbanbrain.govern import audit
from urbanbrain.govern.principals import ANALYST, Principal
from urbanbrain.meta.db import get_engine
from urbanbrain.meta.models import AuditEntry, AuditHead

runner = CliRunner()
ALICE = Principal("user", "alice", frozenset({"market"}), frozenset({ANALYST}))


def _chain(n: int = 5) -> None:
    for i in range(n):
        audit.record(ALICE, "data.read", f"market.licences.t{i}", {"rows": i})


def _rewrite(seq: int, target: str, hasher: object) -> None:
    """What an attacker with write access to the database does: edit, then recompute every later hash
    and the head with `hasher` (seq, at, principal, action, target, detail, prev) -> hash."""
    with get_engine().begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(target=target))
        rows = list(conn.execute(select(AuditEntry).order_by(AuditEntry.seq)))
        prev = audit.GENESIS
        for r in rows:
            digest = hasher(r.seq, r.at, r.principal, r.action, r.target, r.detail, prev)  # type: ignore[operator]
            conn.execute(update(AuditEntry).where(AuditEntry.seq == r.seq).values(prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(AuditHead).where(AuditHead.id == audit.HEAD_ID).values(hash=prev))


def test_recomputing_the_chain_without_the_key_is_detected() -> None:
    _chain()
    assert audit.verify().ok
    _rewrite(2, "somewhere.else", audit.legacy_hash)  # the unkeyed SHA-256 the chain used before
    result = audit.verify()
    assert not result.ok and result.bad_seq == 1


def test_an_anchor_detects_a_rewrite_by_someone_holding_the_key(tmp_path: Path) -> None:
    _chain()
    file = tmp_path / "anchor.json"
    out = runner.invoke(app, ["audit", "anchor", "-o", str(file)])
    assert out.exit_code == 0, out.output
    _chain(2)  # the log grows after the anchor: still fine
    ok = runner.invoke(app, ["audit", "verify", "--anchor", str(file)])
    assert ok.exit_code == 0 and "anchor 5 matches" in ok.output
    key = audit.audit_key()
    _rewrite(3, "somewhere.else", lambda *f: audit.entry_hash(*f, key=key))
    assert audit.verify().ok  # the key holder's rewrite fits the chain ...
    bad = runner.invoke(app, ["audit", "verify", "--anchor", str(file)])
    assert bad.exit_code == 1 and "rewritten since the anchor" in bad.output  # ... but not the anchor


def test_an_anchor_detects_the_log_cut_back() -> None:
    _chain()
    pin = audit.anchor()
    with get_engine().begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
        prev = conn.execute(select(AuditEntry.hash).where(AuditEntry.seq == 3)).scalar_one()
        conn.execute(update(AuditHead).where(AuditHead.id == audit.HEAD_ID).values(seq=3, hash=prev))
    assert audit.verify().ok
    result = audit.verify(anchor=pin)
    assert not result.ok and "deleted since the anchor" in (result.problem or "")


def test_migration_0007_rekeys_an_intact_unkeyed_log_and_leaves_a_broken_one() -> None:
    import importlib

    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    migration = importlib.import_module("urbanbrain.meta.migrations.versions.0007_audit_keyed_chain")
    _chain()
    _rewrite(1, "market.licences.t0", audit.legacy_hash)  # as an old installation wrote it
    assert not audit.verify().ok
    with get_engine().begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration.upgrade()
    assert audit.verify().ok
    _rewrite(2, "x", audit.legacy_hash)
    _rewrite(2, "y", lambda *f: "0" * 64)  # broken under any hash
    with get_engine().begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration.upgrade()
    assert not audit.verify().ok


def test_sql_reads_record_their_statement(in_city: City) -> None:
    from tests.govern.city import ANALYST_TRANSPORT, RESIDENTS
    from urbanbrain.govern.query import run_query

    sql = f"SELECT district, count(*) FROM {RESIDENTS} GROUP BY 1"
    run_query(sql, principal=ANALYST_TRANSPORT)
    audit.flush()
    entry = audit.list_entries(action="data.read", limit=1)[0]
    assert entry.detail["sql"] == sql and entry.principal == ANALYST_TRANSPORT.label

