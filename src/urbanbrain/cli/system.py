"""`urbanbrain system ...`: register a department system, test it, discover its objects, configure them.

Connection options are assembled here from flags only; validation, encryption and redaction live in
`urbanbrain.connect.systems`. Nothing in this module prints raw options: only the services' redacted
display URL ever reaches the screen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, model_rows
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.connect import systems as svc
    from urbanbrain.meta.schemas import SourceObjectPublic
else:
    svc = lazy_module("urbanbrain.connect.systems")

app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["name", "department", "kind", "display_url", "schedule", "health", "objects", "last_sync_at",
                "next_run_at"]
SHOW_COLUMNS = ["name", "department", "kind", "display_url", "schedule", "owner", "description", "health",
                "health_reason", "health_checked_at", "objects", "last_sync_at", "next_run_at", "created_at"]
OBJECT_COLUMNS = ["name", "kind", "columns", "primary_key", "row_estimate", "cursor_column", "enabled"]

UrlOption = Annotated[str | None, typer.Option("--url", help="Connection URL (stored encrypted).")]
PathOption = Annotated[str | None, typer.Option("--path", help="File or folder path (files, sqlite).")]
OptionOption = Annotated[
    list[str] | None,
    typer.Option("--option", help="key=value connection option; the value is parsed as JSON when it parses. "
                                  "Repeatable."),
]
OptionsFileOption = Annotated[
    Path | None,
    typer.Option("--options-file", help="JSON file of options, merged first (keeps secrets out of shell history).",
                 exists=True, dir_okay=False),
]
ScheduleOption = Annotated[str | None, typer.Option("--schedule", help="'manual', 'every 5m' or a cron expression.")]
OwnerOption = Annotated[str | None, typer.Option("--owner", help="Who answers for this system.")]


def parse_options(url: str | None, path: str | None, pairs: list[str] | None, options_file: Path | None
                  ) -> dict[str, Any]:
    """Merge --options-file, then --option pairs, then --url/--path into one options dict."""
    options: dict[str, Any] = {}
    if options_file is not None:
        try:
            loaded = json.loads(options_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{options_file} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValidationError(f"{options_file} must hold a JSON object of options")
        options.update(loaded)
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--option {pair!r} is not key=value", hint="e.g. --option timeout=10")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options[key.strip()] = value
    if url is not None:
        options["url"] = url
    if path is not None:
        options["path"] = path
    return options


def object_rows(objects: list[SourceObjectPublic]) -> list[dict[str, Any]]:
    """Discovered objects, with the column list summarised as a count (the full list is in JSON of `show`)."""
    rows = model_rows(objects, OBJECT_COLUMNS)
    for row in rows:
        row["columns"] = len(row["columns"] or [])
    return rows


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Unique system name, e.g. business-licences.")],
    dept: Annotated[str, typer.Option("--dept", help="Owning department code.")],
    kind: Annotated[str, typer.Option("--kind", help="postgres, mysql, sqlite, files or rest.")],
    url: UrlOption = None,
    path: PathOption = None,
    option: OptionOption = None,
    options_file: OptionsFileOption = None,
    schedule: ScheduleOption = None,
    owner: OwnerOption = None,
    description: Annotated[str | None, typer.Option("--description", help="What the system is for.")] = None,
    register_in_place: Annotated[bool, typer.Option(
        "--register-in-place", help="files: register Parquet into the lake where it is (no copy) when its "
                                    "schema allows")] = False,
) -> None:
    """Register a department system (options are checked now, the connection by `system test`)."""
    options = parse_options(url, path, option, options_file)
    if register_in_place:
        if kind != "files":
            raise ValidationError("--register-in-place is for --kind files (Parquet exports)")
        options["register_in_place"] = True
    system = svc.add_system(name, dept, kind, options, schedule=schedule, owner=owner, description=description)
    console.print(f"added system [bold]{system.name}[/bold] ({system.kind}, {system.display_url or 'no url'}, "
                  f"schedule {system.schedule}); next: `urbanbrain system test {system.name}`")
    if system.checks:
        console.print("checked: " + "; ".join(system.checks))


@app.command("list")
def list_(
    dept: Annotated[str | None, typer.Option("--dept", help="Only this department's systems.")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List systems with their health and schedule."""
    emit_rows(model_rows(svc.list_systems(dept), LIST_COLUMNS), fmt, columns=LIST_COLUMNS, title="Systems",
              output=output)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="System name.")], fmt: FormatOption = Format.table) -> None:
    """Show one system (the URL is shown redacted)."""
    emit_rows(model_rows([svc.get_system(name)], SHOW_COLUMNS), fmt, columns=SHOW_COLUMNS, vertical=True)


@app.command("test")
def test(name: Annotated[str, typer.Argument(help="System name.")]) -> None:
    """Connect and log in; records the system's health. Exit code 1 when it fails."""
    svc.test_system(name)
    console.print("[green]ok:[/green] reachable, credentials accepted")


@app.command("discover")
def discover(name: Annotated[str, typer.Argument(help="System name.")], fmt: FormatOption = Format.table,
             output: OutputOption = None) -> None:
    """List and remember the tables/files/endpoints the system holds."""
    emit_rows(object_rows(svc.discover_system(name)), fmt, columns=OBJECT_COLUMNS, title=f"Objects of {name}",
              output=output)


@app.command("objects")
def objects(name: Annotated[str, typer.Argument(help="System name.")], fmt: FormatOption = Format.table,
            output: OutputOption = None) -> None:
    """List the objects found by the last discovery, with their sync settings."""
    emit_rows(object_rows(svc.list_objects(name)), fmt, columns=OBJECT_COLUMNS, title=f"Objects of {name}",
              output=output)


@app.command("set-cursor")
def set_cursor(
    name: Annotated[str, typer.Argument(help="System name.")],
    object_name: Annotated[str, typer.Argument(metavar="OBJECT", help="Object name.")],
    column: Annotated[str | None, typer.Argument(help="Cursor column (rows beyond its last value sync next).")] = None,
    none: Annotated[bool, typer.Option("--none", help="No cursor: every sync is a full refresh.")] = False,
) -> None:
    """Choose how an object syncs: incrementally by a column, or (--none) full refresh every time."""
    if (column is None) == (not none):
        raise ValidationError("give either a COLUMN or --none", hint="e.g. `system set-cursor crm orders updated_at`")
    obj = svc.configure_object(name, object_name, cursor_column=column, clear_cursor=none)
    how = f"incremental by {obj.cursor_column}" if obj.cursor_column else "full refresh"
    console.print(f"{name}/{obj.name}: {how}")


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="System name.")],
    url: UrlOption = None,
    path: PathOption = None,
    option: OptionOption = None,
    options_file: OptionsFileOption = None,
    schedule: ScheduleOption = None,
    owner: OwnerOption = None,
    replace: Annotated[bool, typer.Option("--replace-options", help="Replace all stored options.")] = False,
) -> None:
    """Change the schedule, owner or connection options (merged over the stored ones)."""
    given = url is not None or path is not None or option or options_file is not None
    options = parse_options(url, path, option, options_file) if given else None
    system = svc.update_system(name, options=options, schedule=schedule, owner=owner, replace_options=replace)
    console.print(f"updated system [bold]{system.name}[/bold] ({system.display_url or 'no url'}, "
                  f"schedule {system.schedule})")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="System name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    purge: Annotated[bool, typer.Option("--purge", help="Also drop its lake datasets and run history.")] = False,
) -> None:
    """Forget a system and its discovered objects (and, with --purge, its datasets)."""
    svc.get_system(name)  # unknown names fail before we ask
    if not yes:
        typer.confirm(f"remove system {name!r}{' and its datasets' if purge else ''}?", abort=True)
    svc.remove_system(name, purge=purge)
    console.print(f"removed system [bold]{name}[/bold]")
