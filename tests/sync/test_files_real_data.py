"""The real messy files in tests/data sync without losing a row: each lands in its table or in
quarantine. Plus a file with broken rows, whose rejects are kept with reasons and never doubled."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.sync.helpers import register, scalar
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import get_dataset
from urbanbrain.sync.runner import run_sync


def _records(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def test_baltimore_311_lands_every_row(shared_data: Path) -> None:
    path = shared_data / "service-requests" / "311_sample.csv"
    register("hotline-311", "files", {"path": str(path)}, dept="hotline")
    run = run_sync("hotline-311")
    assert run.status == "succeeded", run.error
    truth = _records(path)
    assert truth == 6_000
    assert run.rows_read == truth
    assert run.rows_written + run.rows_rejected == truth
    name = next(o.dataset_name for o in run.objects)
    landed = scalar(f"select count(*) c from {name}")["c"]
    quarantined = get_dataset(name + "__quarantine").row_count if run.rows_rejected else 0
    assert landed + quarantined == truth


# The OpenAQ files (15 objects, every row and field) are covered by
# tests/sync/test_real_data_regression.py::test_openaq_every_field_matches_and_late_rows_at_the_cursor_are_kept.


def test_broken_rows_go_to_quarantine_with_reasons_once(tmp_path: Path) -> None:
    path = tmp_path / "permits.csv"
    lines = ["id,holder,fee"] + [f"{i},持证人{i},{i}.5" for i in range(1, 50)]
    lines += ["50,坏行", "51,x,not-a-number", "52,正常,3.5"]
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    register("permits", "files", {"path": str(path)}, dept="housing")
    first = run_sync("permits")
    assert first.status == "succeeded_with_rejects", first.error
    assert first.rows_read == 52 and first.rows_rejected >= 1
    assert first.rows_written + first.rows_rejected == 52
    q = run_query("select _ub_reason, _ub_record from housing.permits.permits__quarantine",
                  principal=SYSTEM).table.to_pylist()
    assert len(q) == first.rows_rejected
    assert all(r["_ub_reason"] for r in q)
    run_sync("permits")  # a re-run replaces, never doubles, table and quarantine
    assert scalar("select count(*) c from housing.permits.permits__quarantine")["c"] == first.rows_rejected
    assert scalar("select count(*) c from housing.permits.permits")["c"] == first.rows_written
