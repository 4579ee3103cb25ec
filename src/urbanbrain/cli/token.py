"""`urbanbrain token ...`: users' personal API tokens — printed once at creation, stored hashed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, err_console, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.govern import users as svc
else:
    svc = lazy_module("urbanbrain.govern.users")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["id", "user", "prefix", "label", "created_at", "expires_at", "revoked_at", "last_used_at"]


@app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", help="Login name of the token's owner.")],
    label: Annotated[str | None, typer.Option("--label", help="A note to tell tokens apart.")] = None,
    expires_days: Annotated[int, typer.Option("--expires-days", help="Expire after N days.")] = 90,
) -> None:
    """Create a token and print it once (send it as `Authorization: Bearer <token>`)."""
    new = svc.create_token(user, label=label, expires_days=expires_days)
    err_console.print(f"[yellow]token {new.id} for {new.user} — store it now, it is shown only once:[/yellow]")
    typer.echo(new.token)  # stdout holds only the token, so `TOKEN=$(urbanbrain token create ...)` works


@app.command("list")
def list_(user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List tokens (prefixes only)."""
    emit_rows(model_rows(svc.list_tokens(user), COLUMNS), fmt, columns=COLUMNS, title="Personal tokens",
              output=output)


@app.command("revoke")
def revoke(token: Annotated[str, typer.Argument(help="Token id or its shown prefix.")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    revoked = svc.revoke_token(token)
    console.print(f"revoked token {revoked.id} ({revoked.prefix}…) of {revoked.user}")
