"""`urbanbrain case|dispatch|sla ...`: thin callers of urbanbrain.operate's service functions.

The shell's operator acts as the platform (SYSTEM) unless `--as ROLE@DEPT` narrows who is acting,
e.g. `urbanbrain case accept C20260302-AB12CD34 --as operator@urban`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, console, emit_record, emit_rows

app = typer.Typer(no_args_is_help=True)
dispatch_app = typer.Typer(no_args_is_help=True)
sla_app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["id", "status", "category", "department", "district", "priority", "created_at", "resolve_due_at",
                "version", "title"]
CaseArg = Annotated[str, typer.Argument(help="Case id, e.g. C20260302-AB12CD34.")]
VersionOption = Annotated[int | None, typer.Option("--version", help="The version you saw (refused if stale).")]


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="open, or one status (new, dispatched, ...).")] = None,
    dept: Annotated[str | None, typer.Option("--dept", help="Owning department.")] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open cases past their resolution deadline.")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    fmt: FormatOption = Format.table,
    as_: AsOption = None,
) -> None:
    """List cases, newest first."""
    from urbanbrain.operate.cases import list_cases

    rows = list_cases(acting_principal(as_), status=status, department=dept, category=category, overdue=overdue,
                      limit=limit)
    emit_rows(rows, fmt, columns=LIST_COLUMNS, title="cases")


@app.command("show")
def show(case_id: CaseArg, fmt: FormatOption = Format.table, as_: AsOption = None) -> None:
    """A case with its timeline."""
    from urbanbrain.operate.cases import get_case

    case = get_case(case_id, acting_principal(as_))
    history = case.pop("history")
    attachments = case.pop("attachments", [])
    emit_record(case, fmt, title=case_id)
    emit_rows(history, fmt, columns=["at", "action", "from_status", "to_status", "actor",
                                                          "department", "detail"], title="timeline")
    if attachments:
        emit_rows(attachments, fmt, columns=["id", "name", "content_type", "size", "created_at"], title="photos")


def _act(case_id: str, action: str, as_: str | None, version: int | None, **params: Any) -> None:
    from urbanbrain.operate.cases import transition

    case = transition(case_id, action, acting_principal(as_), version=version, **params)
    console.print(f"{case_id}: [bold]{case['status']}[/bold] (version {case['version']})"
                  + (f", department {case['department']}" if case["department"] else ""))


@app.command("dispatch")
def dispatch(case_id: CaseArg, dept: Annotated[str, typer.Option("--dept", help="Department to send it to.")],
             note: Annotated[str, typer.Option("--note")] = "", version: VersionOption = None,
             as_: AsOption = None) -> None:
    """Send a case to a department."""
    _act(case_id, "dispatch", as_, version, department=dept, note=note)


@app.command("accept")
def accept(case_id: CaseArg, version: VersionOption = None, as_: AsOption = None) -> None:
    """The department takes the case on."""
    _act(case_id, "accept", as_, version)


@app.command("return")
def return_(case_id: CaseArg, reason: Annotated[str, typer.Option("--reason", help="Why it is not yours.")],
            version: VersionOption = None, as_: AsOption = None) -> None:
    """Send a case back to the dispatcher."""
    _act(case_id, "return", as_, version, reason=reason)


@app.command("handle")
def handle(case_id: CaseArg, note: Annotated[str, typer.Option("--note")], version: VersionOption = None,
           as_: AsOption = None) -> None:
    """Record progress."""
    _act(case_id, "handle", as_, version, note=note)


@app.command("feedback")
def feedback(case_id: CaseArg, note: Annotated[str, typer.Option("--note", help="What was done.")],
             photo: Annotated[list[Path] | None, typer.Option(
                 "--photo", help="A photo to attach (JPEG, PNG, GIF or WebP); repeat for more.")] = None,
             version: VersionOption = None, as_: AsOption = None) -> None:
    """Report back: the problem is resolved (with photos of the result)."""
    _act(case_id, "feedback", as_, version, note=note, photos=[_photo(p) for p in photo or []])


def _photo(path: Path) -> Any:
    """A photo file as an upload, its type read from its bytes; too large is refused before reading it."""
    from urbanbrain.core.errors import ValidationError
    from urbanbrain.operate.attachments import Upload, max_bytes, sniff, too_large

    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes():
        raise too_large(path.name, size)
    data = path.read_bytes()
    return Upload(path.name, sniff(data) or "application/octet-stream", data)


@app.command("rate")
def rate(case_id: CaseArg, satisfaction: Annotated[int, typer.Option("--satisfaction", min=1, max=5)],
         version: VersionOption = None, as_: AsOption = None) -> None:
    """Record the resident's satisfaction (1–5)."""
    _act(case_id, "rate", as_, version, satisfaction=satisfaction)


@app.command("close")
def close(case_id: CaseArg, version: VersionOption = None, as_: AsOption = None) -> None:
    """Close a resolved case."""
    _act(case_id, "close", as_, version)


@app.command("reopen")
def reopen(case_id: CaseArg, reason: Annotated[str, typer.Option("--reason")], version: VersionOption = None,
           as_: AsOption = None) -> None:
    """Reopen a resolved or closed case."""
    _act(case_id, "reopen", as_, version, reason=reason)


@app.command("merge")
def merge(case_id: CaseArg, into: Annotated[str, typer.Option("--into", help="The earlier case.")],
          version: VersionOption = None, as_: AsOption = None) -> None:
    """Merge a duplicate into an earlier case."""
    _act(case_id, "merge", as_, version, into=into)


@app.command("import")
def import_command(dataset: Annotated[str, typer.Argument(help="A synced ticket table, e.g. "
                                                                "hotline.hotline_12345.tickets.")],
                   limit: Annotated[int | None, typer.Option("--limit")] = None, as_: AsOption = None) -> None:
    """Turn a synced ticket table into cases (incremental, idempotent on ticket id)."""
    from urbanbrain.operate.intake.dataset import import_dataset

    r = import_dataset(dataset, acting_principal(as_), limit=limit)
    console.print(f"{r.dataset}: read {r.read}, created {r.created} ({r.dispatched} dispatched automatically), "
                  f"already there {r.already}, refused {len(r.refused)}; cursor {r.cursor}")
    for refused in r.refused[:20]:
        console.print(f"  [red]refused[/red] {refused['ticket_id']}: {refused['reason']}")


@app.command("sweep")
def sweep(every: Annotated[float | None, typer.Option("--every", help="Keep sweeping every N seconds.")] = None
          ) -> None:
    """Raise SLA warnings and escalations that have come due (once, or as a scheduler with --every)."""
    from urbanbrain.operate.sla import sweep as run
    from urbanbrain.operate.sla import sweep_loop

    if every:
        import threading

        console.print(f"sweeping every {every:g} s; Ctrl-C stops")
        stop = threading.Event()
        try:
            sweep_loop(stop, every=every)
        except KeyboardInterrupt:
            stop.set()
        return
    counts = run()
    console.print(", ".join(f"{k} {v}" for k, v in counts.items()))


@dispatch_app.command("evaluate")
def evaluate_command(
    since: Annotated[str, typer.Option("--since", help="Learn from cases before, test on cases from this date.")],
    mode: Annotated[str, typer.Option("--mode", help="category (given) or text (free text alone).")] = "category",
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Evaluate on an Open Baltimore 311 export instead.",
                                                  exists=True, dir_okay=False)] = None,
    threshold: Annotated[float, typer.Option("--threshold")] = 0.5,
    fmt: FormatOption = Format.table,
) -> None:
    """First-time-right rate of auto-dispatch on held-out closed cases, per category, with confusions."""
    from urbanbrain.core.clock import parse_utc
    from urbanbrain.operate.evaluate import closed_cases, evaluate, read_311_csv, split

    cut: datetime = parse_utc(since).replace(tzinfo=None)
    cases = read_311_csv(csv_path) if csv_path else closed_cases()
    train, test = split(cases, cut)
    result = evaluate(train, test, mode=mode, threshold=threshold)
    summary = {k: v for k, v in result.items() if k not in ("per_category", "confusions")}
    emit_record(summary, fmt, title="first-time right")
    emit_rows(result["per_category"], fmt, title="per category")
    emit_rows(result["confusions"], fmt, columns=["actual", "proposed", "cases"],
              title="confusions")


@dispatch_app.command("rule")
def rule(category: Annotated[str, typer.Argument()], dept: Annotated[str, typer.Argument(help="Department code.")],
         district: Annotated[str, typer.Option("--district", help="Only in this district.")] = "*",
         as_: AsOption = None) -> None:
    """Set who owns a category (in a district) in the dispatch catalogue."""
    from urbanbrain.operate.catalogue import set_rule

    console.print(set_rule(acting_principal(as_), category, dept, district).explain())


@dispatch_app.command("rules")
def rules(fmt: FormatOption = Format.table) -> None:
    """The dispatch catalogue."""
    from urbanbrain.operate.catalogue import list_rules

    emit_rows(list_rules(), fmt, columns=["category", "district", "department"])


@sla_app.command("set")
def sla_set(category: Annotated[str, typer.Argument(help="Category, or * for every category.")],
            respond: Annotated[str, typer.Option("--respond", help="e.g. 1h")],
            resolve: Annotated[str, typer.Option("--resolve", help="e.g. 5d")],
            priority: Annotated[str, typer.Option("--priority")] = "*",
            working_hours: Annotated[bool, typer.Option("--working-hours", help="Count working time only.")] = False,
            as_: AsOption = None) -> None:
    """Set the time limits of a category (and priority)."""
    from urbanbrain.operate.sla import set_policy

    p = set_policy(acting_principal(as_), category, respond=respond, resolve=resolve, priority=priority,
                   working_hours=working_hours)
    console.print(f"{p.category}/{p.priority}: respond {p.respond_minutes} min, resolve {p.resolve_minutes} min"
                  + (" of working time" if p.working_hours else ""))


@sla_app.command("list")
def sla_list(fmt: FormatOption = Format.table) -> None:
    """SLA policies."""
    from dataclasses import asdict

    from urbanbrain.operate.sla import list_policies

    emit_rows([asdict(p) for p in list_policies()], fmt)


@app.command("publish")
def publish_command(as_: AsOption = None) -> None:
    """Sync the case tables into the lake as governed datasets of the operations centre."""
    from urbanbrain.operate.publish import publish

    for name in publish(acting_principal(as_)):
        console.print(f"published {name}")


@app.command("simulate")
def simulate(reports: Annotated[int, typer.Option("--reports", help="Reports in the simulated day.")] = 200,
             start: Annotated[str, typer.Option("--start", help="The day's start (UTC), e.g. 2026-03-02.")] = "",
             seed: Annotated[int, typer.Option("--seed")] = 7) -> None:
    """The demo city runs the loop for a day: reports, auto-dispatch, handlers, returns, SLA escalations."""
    from urbanbrain.core.clock import parse_utc, utcnow
    from urbanbrain.demo.cases import run_loop

    when = parse_utc(start) if start else utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    r = run_loop(reports, start=when, seed=seed)
    console.print(f"{r.reports} reports: {r.auto_dispatched} dispatched automatically, {r.inbox} via the "
                  f"dispatcher's inbox, {r.returned} returned, {r.closed} closed; escalations {r.escalations}")
