"""The `urbanbrain` command: assembles the command groups and turns expected errors into one red line.

Every command is a thin caller of a service function; this module only adds the global `--home`
option and the top-level error handling, so no command needs its own try/except and no expected
error ever shows a traceback.
"""

from __future__ import annotations

import getpass
import importlib
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import console, err_console, escape
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.actor import reset_actor, set_actor
from urbanbrain.govern.principals import Principal

# Every command but `version`, imported only when it runs (or its own --help is asked for), so
# `urbanbrain --help` costs no pyiceberg, pandas, DuckDB or Splink. One line registers a command:
# name -> (module, attribute, one-line help). The attribute is a `typer.Typer` (a group of
# commands) or a command function; the help is what `urbanbrain --help` lists.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("urbanbrain.cli.demo", "demo_command", "Build a demo city, sync it and serve the console."),
    "dept": ("urbanbrain.cli.dept", "app", "Departments: who owns systems and datasets."),
    "system": ("urbanbrain.cli.system", "app", "Department systems: register, test, discover, configure."),
    "sync": ("urbanbrain.cli.sync", "sync_command", "Sync a system's enabled objects into the lakehouse."),
    "sql": ("urbanbrain.cli.sql", "sql_command", "Run a read-only SQL query over the lakehouse."),
    "dataset": ("urbanbrain.cli.dataset", "app", "Datasets in the lake: list, inspect, preview, drop."),
    "lake": ("urbanbrain.cli.lake", "app", "Lake tables: stats, maintain (compact, expire, orphans), partition."),
    "runs": ("urbanbrain.cli.runs", "app", "Sync-run history."),
    "serve": ("urbanbrain.cli.serve", "serve_command", "Serve the console, the API and the capability gateway."),
    "worker": ("urbanbrain.cli.worker", "worker_command", "Run scheduled syncs (the sync worker)."),
    "capability": ("urbanbrain.cli.capability", "app", "Capabilities: list, show, publish, approve, call."),
    "consumer": ("urbanbrain.cli.consumer", "app", "Consumers: applications that call capabilities."),
    "key": ("urbanbrain.cli.key", "app", "API keys of consumers: create (shown once), list, revoke."),
    "grant": ("urbanbrain.cli.grant", "app", "Grants: request access to a capability; owners approve or refuse."),
    "user": ("urbanbrain.cli.user", "app", "Users: console logins, passwords, roles per department."),
    "token": ("urbanbrain.cli.token", "app", "Personal API tokens of users: create (shown once), list, revoke."),
    "audit": ("urbanbrain.cli.audit", "app", "The audit log: verify its hash chain, list and export entries."),
    "classify": ("urbanbrain.cli.classify", "app", "Classification: sharing levels, PII types and masks of fields."),
    "share": ("urbanbrain.cli.share", "app", "Sharing requests: ask for another department's fields; owners decide."),
    "link": ("urbanbrain.cli.link", "app", "One ID: link people, organisations and addresses into base registries."),
    "case": ("urbanbrain.cli.case", "app", "Cases: the event closed loop from report to close."),
    "dispatch": ("urbanbrain.cli.case", "dispatch_app", "Auto-dispatch: the catalogue and its evaluation."),
    "sla": ("urbanbrain.cli.case", "sla_app", "SLA policies: time limits by category and priority."),
    "feed": ("urbanbrain.cli.feed", "app", "Live sensor feeds: MQTT, NATS JetStream, HTTP push."),
    "stream": ("urbanbrain.cli.live", "stream_command", "Run every live feed: state, history, rules, alerts."),
    "live": ("urbanbrain.cli.live", "live_command", "Current state of live devices, filtered by type, place, value."),
    "rule": ("urbanbrain.cli.rule", "rules", "Rules over live feeds: thresholds, rates, silent devices."),
    "alert": ("urbanbrain.cli.rule", "alerts", "Alerts raised by rules: list, acknowledge."),
    "indicator": ("urbanbrain.cli.indicator", "app", "Indicators: the city's vital signs, thresholds, history."),
}


def report_error(exc: UrbanBrainError) -> None:
    """`error: <message> [context]` and `hint: ...` in red on stderr (the message is already redacted)."""
    where = ", ".join(f"{k}={v}" for k, v in exc.context.items())
    text = f"{exc.message} [{where}]" if where else exc.message
    err_console.print(f"[bold red]error:[/bold red] [red]{escape(text)}[/red]", soft_wrap=True)
    if exc.hint:
        err_console.print(f"[red]hint:[/red] {escape(exc.hint)}", soft_wrap=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return "unknown"


class ErrorHandlingGroup(TyperGroup):
    """Loads commands on demand and catches `UrbanBrainError` around every one (also under CliRunner) → exit 1."""

    _listing = False  # while the top-level help is drawn, commands are listed from COMMANDS, not imported

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute, short_help = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=short_help, short_help=short_help)
        command = _load_command(cmd_name, module, attribute, short_help)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx: Any) -> Any:  # a click Context; typer vendors click, so its class moves between releases
        try:
            return super().invoke(ctx)
        except UrbanBrainError as exc:
            report_error(exc)
            raise typer.Exit(1) from None


def _load_command(name: str, module: str, attribute: str, short_help: str) -> Any:
    """The click command for one COMMANDS entry, built the way `app.add_typer`/`app.command` would."""
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, help=short_help)
    else:
        holder.command(name=name)(target)
        holder.callback()(lambda: None)  # keeps the holder a group, so its one command keeps its name
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return _plain(group.commands[name])


def _plain(command: Any) -> Any:
    """Plain click help (no Rich panels): instant to draw, and flags show no `<bool>` type."""
    command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain(sub)
    return command


app = typer.Typer(
    cls=ErrorHandlingGroup,
    name="urbanbrain",
    help="urbanbrain — an open city brain: connect department systems, sync them into one lakehouse, query it.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Where embedded state lives (sets URBANBRAIN_HOME).", file_okay=False),
    ] = None,
    as_: AsOption = None,
) -> None:
    """Global options; a bare `urbanbrain` prints help so the first thing a user types is useful."""
    if home is not None:
        from urbanbrain.core.settings import reset_settings

        reset_settings(home=home.expanduser().resolve())
    # whoever runs the command at the machine's shell can read the store anyway; the audit log names them
    shell = set_actor(Principal("system", f"shell:{_os_user()}"))
    ctx.call_on_close(lambda: reset_actor(shell))  # an in-process caller (tests) gets its actor back
    if as_:  # every command then acts, and is checked, as that principal (cli/acting.py)
        acting = set_actor(acting_principal(as_))
        ctx.call_on_close(lambda: reset_actor(acting))
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())
        raise typer.Exit(0)


@app.command()
def version() -> None:
    """Print the installed urbanbrain version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        text = package_version("urbanbrain")
    except PackageNotFoundError:
        text = "unknown (not installed)"
    console.print(f"urbanbrain {text}")


def main() -> None:
    """Console-script entry point (`urbanbrain = urbanbrain.cli.main:main`)."""
    app()


if __name__ == "__main__":
    main()
