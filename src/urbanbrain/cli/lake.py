"""`urbanbrain lake ...`: the shape of the lake's tables and their upkeep (stats, maintain, partition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, console, emit_rows
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:
    from urbanbrain.sync import lakeops as svc
else:
    svc = lazy_module("urbanbrain.sync.lakeops")

app = typer.Typer(no_args_is_help=True)

STATS_COLUMNS = ["dataset", "files", "bytes", "rows", "snapshots", "partitions", "spec", "disk_bytes",
                 "compact_files", "expire_snapshots", "expired_bytes", "orphan_files", "orphan_bytes",
                 "in_place_files"]
MAINTAIN_COLUMNS = ["dataset", "compacted_files", "written_files", "expired", "deleted_files", "deleted_bytes",
                    "seconds", "skipped"]


def _mb(n: int) -> str:
    return f"{n / 1024 ** 2:.1f} MB"


@app.command("stats")
def stats(
    dataset: Annotated[str | None, typer.Argument(help="department.system.object; every table you administer "
                                                      "if omitted")] = None,
    fmt: FormatOption = Format.table,
    as_: AsOption = None,
) -> None:
    """Files, sizes, snapshots and partitions per table, and what `lake maintain` would do."""
    rows = []
    for p in svc.lake_stats(dataset, by=acting_principal(as_)):
        row = svc.plan_dict(p)
        if fmt is Format.table:
            row["spec"] = ", ".join(p.spec) or "-"
            for k in ("bytes", "disk_bytes", "expired_bytes", "orphan_bytes"):
                row[k] = _mb(int(p.__dict__[k]))
        rows.append(row)
    emit_rows(rows, fmt, columns=STATS_COLUMNS, title="Lake tables")


@app.command("maintain")
def maintain(
    dataset: Annotated[str | None, typer.Argument(help="department.system.object")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every table you administer.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be done.")] = False,
    fmt: FormatOption = Format.table,
    as_: AsOption = None,
) -> None:
    """Compact small files, expire old snapshots, remove orphan files (one atomic commit per table)."""
    if (dataset is None) == (not all_):
        raise ValidationError("name one dataset or pass --all", hint="urbanbrain lake maintain --all")
    results = svc.maintain_lake(dataset, dry_run=dry_run, by=acting_principal(as_))
    if dry_run:
        rows = [svc.plan_dict(r.plan) for r in results]
        emit_rows(rows, fmt, columns=STATS_COLUMNS, title="What maintain would do")
        return
    rows = [{"dataset": r.plan.dataset, "compacted_files": r.compacted_files, "written_files": r.written_files,
             "expired": r.expired, "deleted_files": r.deleted_files,
             "deleted_bytes": _mb(r.deleted_bytes) if fmt is Format.table else r.deleted_bytes,
             "seconds": round(r.seconds, 2), "skipped": r.skipped} for r in results]
    emit_rows(rows, fmt, columns=MAINTAIN_COLUMNS, title="Lake maintenance")


@app.command("partition")
def partition(
    dataset: Annotated[str, typer.Argument(help="department.system.object (synced or not yet)")],
    by_: Annotated[list[str] | None, typer.Option("--by", help="day(col), month(col), year(col), hour(col) "
                                                             "or identity(col); repeat for several")] = None,
    none: Annotated[bool, typer.Option("--none", help="Unpartitioned.")] = False,
    as_: AsOption = None,
) -> None:
    """Choose a table's partition spec (stewards); existing files move to it at the next maintain."""
    if not by_ and not none:
        raise ValidationError("give --by at least once, or --none", hint="urbanbrain lake partition D --by 'day(t)'")
    spec = svc.set_partitioning(dataset, [] if none else list(by_ or []), by=acting_principal(as_))
    console.print(f"{dataset}: partitioned by {', '.join(spec) or 'nothing'}")
