"""`urbanbrain share ...`: request fields of another department's dataset; its stewards decide."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.govern import sharing as svc
else:
    svc = lazy_module("urbanbrain.govern.sharing")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["id", "dataset", "owner", "grantee_department", "status", "requested_fields", "approved_fields",
           "unmasked", "purpose", "expires_at", "decided_by", "reason"]
IdArg = Annotated[str, typer.Argument(help="Request id.")]


def _fields(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


@app.command("request")
def request(
    dataset: Annotated[str, typer.Argument(help="department.system.object")],
    fields: Annotated[str, typer.Option("--fields", help="Comma-separated field names.")],
    purpose: Annotated[str, typer.Option("--purpose", help="What the data is for.")],
    days: Annotated[int, typer.Option("--days", help="How long it is needed.")] = 30,
    dept: Annotated[str | None, typer.Option("--dept", help="Requesting department.")] = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help="The purpose needs PII in clear.")] = False,
    as_: AsOption = None,
) -> None:
    """Ask the owning department for fields of a dataset."""
    g = svc.request_fields(dataset, _fields(fields) or [], purpose, days, by=acting_principal(as_),
                           department=dept, unmasked=unmasked)
    console.print(f"requested [bold]{g.id}[/bold]; {g.owner} decides with `urbanbrain share approve {g.id}`")


@app.command("approve")
def approve(
    grant_id: IdArg,
    fields: Annotated[str | None, typer.Option("--fields", help="Approve only these (comma-separated).")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Fewer days than requested.")] = None,
    as_: AsOption = None,
) -> None:
    """Approve a request, possibly for fewer fields or days."""
    g = svc.approve(grant_id, by=acting_principal(as_), fields=_fields(fields), days=days)
    console.print(f"[green]approved[/green] {', '.join(g.approved_fields)} of {g.dataset} for "
                  f"{g.grantee_department} until {g.expires_at:%Y-%m-%d %H:%M} UTC")


@app.command("refuse")
def refuse(grant_id: IdArg, reason: Annotated[str, typer.Option("--reason", help="Why, for the requester.")],
           as_: AsOption = None) -> None:
    """Refuse a request, saying why."""
    g = svc.refuse(grant_id, reason, by=acting_principal(as_))
    console.print(f"refused {g.id}: {g.reason}")


@app.command("revoke")
def revoke(grant_id: IdArg, reason: Annotated[str, typer.Option("--reason", help="Why, for the requester.")],
           as_: AsOption = None) -> None:
    """End an approved grant before it expires."""
    g = svc.revoke(grant_id, reason, by=acting_principal(as_))
    console.print(f"revoked {g.id}")


@app.command("list")
def list_(dataset: Annotated[str | None, typer.Option("--dataset")] = None,
          dept: Annotated[str | None, typer.Option("--dept", help="Either side: requester or owner.")] = None,
          status: Annotated[str | None, typer.Option("--status", help="requested, approved, refused, revoked, "
                                                                       "expired.")] = None,
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Requests and grants, newest first."""
    rows = [g.as_dict() for g in svc.list_grants(dataset=dataset, department=dept, status=status)]
    emit_rows(rows, fmt, columns=COLUMNS, title="Sharing requests", output=output)
