"""`urbanbrain audit ...`: verify the hash chain, search and export the audit log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, err_console
from urbanbrain.core.clock import parse_utc
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.govern import audit as svc
else:
    svc = lazy_module("urbanbrain.govern.audit")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["seq", "at", "principal", "action", "target", "detail", "hash"]
PrincipalOption = Annotated[str | None, typer.Option("--principal", help="A name (li.na) or label (user:li.na).")]
ActionOption = Annotated[str | None, typer.Option("--action", help="An action (grant.approve) or family (grant).")]
SinceOption = Annotated[str | None, typer.Option("--since", help="From this UTC date/time, e.g. 2026-11-24.")]
UntilOption = Annotated[str | None, typer.Option("--until", help="Before this UTC date/time.")]


def _when(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ValidationError(str(exc), parameter=option) from None


def _rows(entries: Any) -> list[dict[str, Any]]:
    return [e.model_dump() for e in entries]


@app.command("verify")
def verify(anchor: Annotated[Path | None, typer.Option(
        "--anchor", help="A head saved by `urbanbrain audit anchor`: it must still be in the chain.")] = None) -> None:
    """Check the whole chain; exits 1 naming the first edited, deleted or moved entry."""
    pin = None
    if anchor is not None:
        try:
            pin = svc.Anchor.model_validate_json(anchor.read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError(f"cannot read the anchor {anchor}: {exc}",
                                  hint="pass a file written by `urbanbrain audit anchor`") from None
    result = svc.verify(anchor=pin)
    if not result.ok:
        err_console.print(f"[bold red]audit log tampered:[/bold red] [red]{result.problem}[/red]", soft_wrap=True)
        err_console.print(f"first bad entry: seq {result.bad_seq} ({result.entries} entries before it are intact)")
        raise typer.Exit(1)
    console.print(f"audit log intact: {result.entries} entries; head {result.head_seq} {result.head_hash}"
                  + (f"; anchor {pin.seq} matches" if pin is not None else ""))


@app.command("anchor")
def anchor(output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the anchor to this file (keep it off this machine); stdout otherwise.")] = None
           ) -> None:
    """Export the verified head of the chain, to check the log against later (`verify --anchor FILE`)."""
    text = svc.anchor().model_dump_json(indent=2)
    if output is None:
        console.print(text, highlight=False, soft_wrap=True)
    else:
        output.write_text(text + "\n")
        console.print(f"anchor written to {output}")


@app.command("list")
def list_(principal: PrincipalOption = None, action: ActionOption = None, since: SinceOption = None,
          until: UntilOption = None,
          limit: Annotated[int, typer.Option("--limit", help="Newest N entries.")] = 100,
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """The newest entries, filtered."""
    entries = svc.list_entries(principal=principal, action=action, since=_when(since, "--since"),
                               until=_when(until, "--until"), limit=limit)
    emit_rows(_rows(entries), fmt, columns=COLUMNS, title="Audit log", output=output)


@app.command("export")
def export(principal: PrincipalOption = None, action: ActionOption = None, since: SinceOption = None,
           until: UntilOption = None,
           fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]
           = Format.csv, output: OutputOption = None) -> None:
    """Every matching entry in chain order (CSV by default), for an auditor or another system."""
    entries = svc.iter_entries(principal=principal, action=action, since=_when(since, "--since"),
                               until=_when(until, "--until"))
    emit_rows(_rows(entries), fmt, columns=COLUMNS, title="Audit log", output=output)
