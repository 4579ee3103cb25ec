"""`urbanbrain key ...`: API keys — printed once at creation, stored hashed, revocable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, err_console, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.capability import consumers as svc
else:
    svc = lazy_module("urbanbrain.capability.consumers")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["id", "consumer", "prefix", "label", "created_at", "expires_at", "revoked_at", "last_used_at"]


@app.command("create")
def create(
    consumer: Annotated[str, typer.Option("--consumer", help="Consumer name.")],
    expires_days: Annotated[int | None, typer.Option("--expires-days", help="Expire after N days.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note to tell keys apart.")] = None,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    new = svc.create_key(consumer, expires_days=expires_days, label=label)
    err_console.print(f"[yellow]key {new.id} for {new.consumer} — store it now, it is shown only once:[/yellow]")
    typer.echo(new.key)  # stdout holds only the key, so `KEY=$(urbanbrain key create ...)` works


@app.command("list")
def list_(consumer: Annotated[str, typer.Option("--consumer", help="Consumer name.")],
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List a consumer's keys (prefixes only)."""
    emit_rows(model_rows(svc.list_keys(consumer), COLUMNS), fmt, columns=COLUMNS, title="API keys", output=output)


@app.command("revoke")
def revoke(key: Annotated[str, typer.Argument(help="Key id or its shown prefix.")]) -> None:
    """Revoke a key: calls with it are refused from now on."""
    revoked = svc.revoke_key(key)
    console.print(f"revoked key {revoked.id} ({revoked.prefix}…) of {revoked.consumer}")
