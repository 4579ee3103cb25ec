"""`urbanbrain grant ...`: consumers ask for capabilities; owning departments approve or refuse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.capability import grants as svc
else:
    svc = lazy_module("urbanbrain.capability.grants")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["id", "consumer", "consumer_department", "capability", "version", "owner", "status", "per_minute",
           "per_day", "expires_at", "decided_by", "reason"]
DeptOption = Annotated[str | None, typer.Option("--dept", help="Deciding department; must own the capability.")]
ApproverOption = Annotated[str, typer.Option("--approver", help="Who decides.")]


@app.command("request")
def request(
    consumer: Annotated[str, typer.Option("--consumer", help="Consumer name.")],
    capability: Annotated[str, typer.Option("--capability", help="Capability name.")],
    per_minute: Annotated[int, typer.Option("--per-minute", help="Calls per minute.")] = 60,
    per_day: Annotated[int, typer.Option("--per-day", help="Calls per day.")] = 10_000,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Why the application needs it.")] = None,
) -> None:
    """Ask the capability's owning department for access."""
    grant = svc.request_grant(consumer, capability, per_minute=per_minute, per_day=per_day, purpose=purpose)
    console.print(f"requested grant [bold]{grant.id}[/bold]; {grant.owner} decides with "
                  f"`urbanbrain grant approve {grant.id}`")


@app.command("approve")
def approve(grant_id: Annotated[str, typer.Argument(help="Grant id.")], dept: DeptOption = None,
            approver: ApproverOption = "owner",
            expires_days: Annotated[int | None, typer.Option("--expires-days", help="Expire after N days.")] = None,
            ) -> None:
    """Approve a grant request."""
    grant = svc.approve_grant(grant_id, approver=approver, department=dept, expires_days=expires_days)
    console.print(f"[green]approved[/green] {grant.consumer} → {grant.capability} "
                  f"({grant.per_minute}/min, {grant.per_day}/day)")


@app.command("refuse")
def refuse(grant_id: Annotated[str, typer.Argument(help="Grant id.")],
           reason: Annotated[str | None, typer.Option("--reason", help="Why, for the requester.")] = None,
           dept: DeptOption = None, approver: ApproverOption = "owner") -> None:
    """Refuse a grant request (or withdraw an approved grant)."""
    grant = svc.refuse_grant(grant_id, reason=reason, approver=approver, department=dept)
    console.print(f"refused {grant.consumer} → {grant.capability}")


@app.command("list")
def list_(consumer: Annotated[str | None, typer.Option("--consumer")] = None,
          capability: Annotated[str | None, typer.Option("--capability")] = None,
          status: Annotated[str | None, typer.Option("--status", help="requested, approved, refused.")] = None,
          owner: Annotated[str | None, typer.Option("--owner", help="Owning department: what it must decide.")] = None,
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List grants."""
    rows = svc.list_grants(consumer=consumer, capability=capability, status=status, owner=owner)
    emit_rows(model_rows(rows, COLUMNS), fmt, columns=COLUMNS, title="Grants", output=output)
