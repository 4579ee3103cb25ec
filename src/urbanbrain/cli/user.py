"""`urbanbrain user ...`: people who log in to the console, their passwords and roles per department.

Passwords are typed at a hidden prompt (twice), or piped with `--password-stdin`; they never appear on
the command line, where `ps` and shell history would keep them. The first admin of a non-demo install
is `urbanbrain user add NAME --admin`; there is no default account.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.lazy import lazy_module
from urbanbrain.govern.principals import PLATFORM_ADMIN, ROLES

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.govern import users as svc
else:
    svc = lazy_module("urbanbrain.govern.users")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["name", "display_name", "enabled", "roles", "created_at", "last_login_at"]
RoleOption = Annotated[list[str] | None, typer.Option(
    "--role", help=f"ROLE or ROLE@DEPT, repeatable; roles: {', '.join(ROLES)}.")]
DeptOption = Annotated[str | None, typer.Option("--dept", help="Department of every --role given without @DEPT.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


def _roles(specs: list[str] | None, dept: str | None) -> list[tuple[str, str | None]]:
    roles: list[tuple[str, str | None]] = []
    for spec in specs or []:
        role, _, where = spec.partition("@")
        roles.append((role.strip(), (where or dept or "").strip() or None))
    return roles


def _rows(items: list[svc.UserPublic]) -> list[dict[str, object]]:
    return [{**u.model_dump(include=set(COLUMNS)),
             "roles": [f"{r.role}@{r.department}" if r.department else r.role for r in u.roles]} for u in items]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Login name, e.g. li.na.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a platform admin.")] = False,
    role: RoleOption = None,
    dept: DeptOption = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="Name shown in the console.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a user; the password is prompted for (or read from stdin)."""
    roles = _roles(role, dept) + ([(PLATFORM_ADMIN, None)] if admin else [])
    if not roles:
        raise ValidationError("a user needs at least one role", hint="add --admin or --role ROLE --dept CODE")
    user = svc.add_user(name, _password(password_stdin), roles=roles, display_name=display_name)
    console.print(f"added user [bold]{user.name}[/bold] ({', '.join(_rows([user])[0]['roles'])})")  # type: ignore[arg-type]


@app.command("list")
def list_(fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List users and their roles."""
    emit_rows(_rows(svc.list_users()), fmt, columns=COLUMNS, title="Users", output=output)


@app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password; the user's console sessions end."""
    svc.set_password(name, _password(password_stdin))
    console.print(f"password of {name} changed; their console sessions have ended")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="Login name.")],
            enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead.")] = False) -> None:
    """Disable a user (sessions and tokens stop working at once), or enable them again."""
    user = svc.set_enabled(name, enable)
    console.print(f"{user.name} is {'enabled' if user.enabled else 'disabled'}")


@app.command("role")
def role(
    name: Annotated[str, typer.Argument(help="Login name.")],
    add: Annotated[list[str] | None, typer.Option("--add", help="ROLE or ROLE@DEPT to grant, repeatable.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="ROLE or ROLE@DEPT to take away.")] = None,
    dept: DeptOption = None,
) -> None:
    """Grant or take away roles, each in a department (platform_admin has none)."""
    user = svc.change_roles(name, add=_roles(add, dept), remove=_roles(remove, dept))
    console.print(f"{user.name}: {', '.join(_rows([user])[0]['roles']) or 'no roles'}")  # type: ignore[arg-type]
