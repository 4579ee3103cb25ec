"""`urbanbrain rule ...` and `urbanbrain alert ...`: rules over live feeds and the alerts they raise."""

from __future__ import annotations

from typing import Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows

rules = typer.Typer(no_args_is_help=True)
alerts = typer.Typer(no_args_is_help=True)


@rules.command("add")
def add(name: Annotated[str, typer.Argument()], feed: Annotated[str, typer.Option("--feed")],
        when: Annotated[str, typer.Option("--when", help="e.g. 'pm25 > 75 for 10m', 'silent 15m'.")],
        severity: Annotated[str, typer.Option("--severity")] = "minor", by: AsOption = None) -> None:
    """Add a rule; a running stream picks it up within seconds."""
    from urbanbrain.stream import alerts as svc

    svc.add_rule(acting_principal(by), name, feed, when, severity)
    console.print(f"added rule [bold]{name}[/bold] on {feed}: {when} ({severity})")


@rules.command("list")
def list_(feed: Annotated[str | None, typer.Option("--feed")] = None, fmt: FormatOption = Format.table,
          output: OutputOption = None, by: AsOption = None) -> None:
    """List rules."""
    from urbanbrain.stream import alerts as svc

    emit_rows(svc.list_rules(acting_principal(by), feed), fmt,
              columns=["name", "feed", "department", "when", "severity", "enabled"], output=output)


@rules.command("remove")
def remove(name: Annotated[str, typer.Argument()], by: AsOption = None) -> None:
    """Remove a rule."""
    from urbanbrain.stream import alerts as svc

    svc.delete_rule(acting_principal(by), name)
    console.print(f"removed rule [bold]{name}[/bold]")


@alerts.command("list")
def alert_list(status: Annotated[str, typer.Option("--status", help="open, raised, acknowledged, cleared.")] = "open",
               feed: Annotated[str | None, typer.Option("--feed")] = None, fmt: FormatOption = Format.table,
               output: OutputOption = None, by: AsOption = None) -> None:
    """List alerts (open ones by default)."""
    from urbanbrain.stream import alerts as svc

    emit_rows(svc.list_alerts(acting_principal(by), status=status, feed=feed), fmt,
              columns=["id", "severity", "status", "rule", "feed", "device_id", "message", "raised_at"],
              output=output)


@alerts.command("ack")
def alert_ack(alert_id: Annotated[str, typer.Argument()], by: AsOption = None) -> None:
    """Acknowledge a raised alert (it stays open until its condition clears)."""
    from urbanbrain.stream import alerts as svc

    svc.acknowledge_alert(acting_principal(by), alert_id)
    console.print(f"acknowledged {alert_id}")


@alerts.command("clear")
def alert_clear(alert_id: Annotated[str, typer.Argument()], by: AsOption = None) -> None:
    """Clear an open alert by hand (the rule raises a new one if its condition still holds)."""
    from urbanbrain.stream import alerts as svc

    svc.clear_alert(acting_principal(by), alert_id)
    console.print(f"cleared {alert_id}")
