"""The `urbanbrain` command: assembles the command groups and turns expected errors into one red line.

Every command is a thin caller of a service function; this module only adds the global `--home`
option and the top-level error handling, so no command needs its own try/except and no expected
error ever shows a traceback.
"""

from __future__ import annotations

import getpass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from urbanbrain.cli import (
    audit,
    capability,
    case,
    classify,
    consumer,
    dataset,
    demo,
    dept,
    feed,
    grant,
    indicator,
    key,
    link,
    live,
    rule,
    runs,
    serve,
    share,
    sql,
    sync,
    system,
    token,
    user,
    worker,
)
from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import console, err_console
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.core.settings import reset_settings
from urbanbrain.govern import audit as audit_log
from urbanbrain.govern.principals import Principal


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
    """Catches `UrbanBrainError` around every command (also under Typer's CliRunner) → exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # a click Context; typer vendors click, so its class moves between releases
        try:
            return super().invoke(ctx)
        except UrbanBrainError as exc:
            report_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=ErrorHandlingGroup,
    name="urbanbrain",
    help="urbanbrain — an open city brain: connect department systems, sync them into one lakehouse, query it.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
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
        reset_settings(home=home.expanduser().resolve())
    # whoever runs the command at the machine's shell can read the store anyway; the audit log names them
    audit_log.set_actor(Principal("system", f"shell:{_os_user()}"))
    if as_:  # every command then acts, and is checked, as that principal (cli/acting.py)
        audit_log.set_actor(acting_principal(as_))
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())
        raise typer.Exit(0)


@app.command()
def version() -> None:
    """Print the installed urbanbrain version."""
    try:
        text = package_version("urbanbrain")
    except PackageNotFoundError:
        text = "unknown (not installed)"
    console.print(f"urbanbrain {text}")


app.command(name="demo")(demo.demo_command)
app.add_typer(dept.app, name="dept", help="Departments: who owns systems and datasets.")
app.add_typer(system.app, name="system", help="Department systems: register, test, discover, configure.")
app.command(name="sync")(sync.sync_command)
app.command(name="sql")(sql.sql_command)
app.add_typer(dataset.app, name="dataset", help="Datasets in the lake: list, inspect, preview, drop.")
app.add_typer(runs.app, name="runs", help="Sync-run history.")
app.command(name="serve")(serve.serve_command)
app.command(name="worker")(worker.worker_command)
app.add_typer(capability.app, name="capability", help="Capabilities: list, show, publish, approve, call.")
app.add_typer(consumer.app, name="consumer", help="Consumers: applications that call capabilities.")
app.add_typer(key.app, name="key", help="API keys of consumers: create (shown once), list, revoke.")
app.add_typer(grant.app, name="grant", help="Grants: request access to a capability; owners approve or refuse.")
app.add_typer(user.app, name="user", help="Users: console logins, passwords, roles per department.")
app.add_typer(token.app, name="token", help="Personal API tokens of users: create (shown once), list, revoke.")
app.add_typer(audit.app, name="audit", help="The audit log: verify its hash chain, list and export entries.")
app.add_typer(classify.app, name="classify", help="Classification: sharing levels, PII types and masks of fields.")
app.add_typer(share.app, name="share", help="Sharing requests: ask for another department's fields; owners decide.")
app.add_typer(case.app, name="case", help="Cases: the event closed loop from report to close.")
app.add_typer(case.dispatch_app, name="dispatch", help="Auto-dispatch: the catalogue and its evaluation.")
app.add_typer(case.sla_app, name="sla", help="SLA policies: time limits by category and priority.")
app.add_typer(link.app, name="link", help="One ID: link people, organisations and addresses into base registries.")
app.add_typer(feed.app, name="feed", help="Live sensor feeds: MQTT, NATS JetStream, HTTP push.")
app.command(name="stream")(live.stream_command)
app.command(name="live")(live.live_command)
app.add_typer(rule.rules, name="rule", help="Rules over live feeds: thresholds, rates, silent devices.")
app.add_typer(rule.alerts, name="alert", help="Alerts raised by rules: list, acknowledge.")
app.add_typer(indicator.app, name="indicator", help="Indicators: the city's vital signs, thresholds, history.")


def main() -> None:
    """Console-script entry point (`urbanbrain = urbanbrain.cli.main:main`)."""
    app()


if __name__ == "__main__":
    main()
