"""`urbanbrain capability ...`: the catalog from the terminal — list, show, suggest, publish, approve, call.

Each command calls one service in `urbanbrain.capability`; `call` goes through the same gateway
function as the HTTP route, so a key, grant, quota and schema behave exactly as they do over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, model_rows
from urbanbrain.core.errors import ValidationError
from urbanbrain.core.lazy import lazy_function, lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.capability import catalog, gateway
    from urbanbrain.capability.catalog import CapabilitySpec
    from urbanbrain.capability.lookups import generate_lookup_api
    from urbanbrain.capability.metering import flush_all
else:
    catalog = lazy_module("urbanbrain.capability.catalog")
    gateway = lazy_module("urbanbrain.capability.gateway")
    CapabilitySpec = lazy_function("urbanbrain.capability.catalog", "CapabilitySpec")
    generate_lookup_api = lazy_function("urbanbrain.capability.lookups", "generate_lookup_api")
    flush_all = lazy_function("urbanbrain.capability.metering", "flush_all")

app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["name", "version", "title_zh", "title_en", "category", "owner", "status", "kind"]
SHOW_COLUMNS = ["name", "version", "title_zh", "title_en", "description_zh", "description_en", "category", "owner",
                "owner_name", "status", "kind", "input_schema", "output_schema", "implementation", "approved_by",
                "created_at", "published_at"]
DeptOption = Annotated[str | None, typer.Option("--dept", help="Acting department; must own the capability.")]
VersionOption = Annotated[int | None, typer.Option("--version", "-v", help="Version (default: the newest).")]


@app.command("list")
def list_(
    category: Annotated[str | None, typer.Option("--category", help="e.g. data_service, spatial, ai_model.")] = None,
    dept: Annotated[str | None, typer.Option("--dept", help="Owning department code.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="draft, published or deprecated.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in names, titles, descriptions.")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List capabilities with their category, owner and status."""
    caps = catalog.list_capabilities(category, dept, status, search)
    emit_rows(model_rows(caps, LIST_COLUMNS), fmt, columns=LIST_COLUMNS, title="Capabilities", output=output)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Capability name.")], version: VersionOption = None,
         fmt: FormatOption = Format.table) -> None:
    """Show one capability with its schemas and implementation (never its secrets)."""
    emit_rows(model_rows([catalog.get_capability(name, version)], SHOW_COLUMNS), fmt, columns=SHOW_COLUMNS,
              vertical=True)


def load_spec_file(path: Path) -> dict[str, Any]:
    """A capability spec from JSON, or YAML when PyYAML is installed."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValidationError("YAML specs need PyYAML", hint="pip install pyyaml, or write the spec as JSON") \
                from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must hold one object: the capability spec")
    return data


@app.command("publish")
def publish(
    builtins: Annotated[bool, typer.Option("--builtins", help="Publish every registered built-in.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="JSON/YAML capability spec (a draft until approved).",
                                              exists=True, dir_okay=False)] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Generate a lookup data API over it.")] = None,
    key_column: Annotated[str | None, typer.Option("--key-column", help="The lookup's key column.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the generated lookup.")] = None,
    suggestion: Annotated[str | None, typer.Option(
        "--suggestion", help="Publish this proposal of `capability suggest DATASET` (with --dataset).")] = None,
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="Why: required for a lookup by a personal field (kept and audited).")] = None,
) -> None:
    """Publish the built-ins, a suggested data API, a capability from a spec file, or a dataset lookup."""
    if suggestion:
        if not dataset:
            raise ValidationError("--suggestion needs --dataset", hint="e.g. --dataset civil.elderly_care.elderly")
        from urbanbrain.capability.suggest import publish_suggestion

        cap = publish_suggestion(dataset, suggestion, purpose=purpose)
        console.print(f"[green]published[/green] {cap.name} v{cap.version} ({cap.title_zh} / {cap.title_en}) "
                      f"at {cap.path}")
        return
    if builtins:
        result = catalog.publish_builtins()
        console.print(f"published {len(result['published'])} built-ins: {', '.join(result['published'])}")
        for line in result["reassigned"]:
            console.print(f"[yellow]{line}[/yellow]")
        for line in result["skipped"]:
            console.print(f"[yellow]skipped {line}[/yellow]")
        return
    if file is not None:
        cap = catalog.register_capability(CapabilitySpec(**load_spec_file(file)))
    elif dataset and key_column:
        cap = generate_lookup_api(dataset, key_column, name=name)
    else:
        raise ValidationError("say what to publish", hint="use --builtins, --dataset D --suggestion NAME, "
                              "--file SPEC, or --dataset D --key-column C")
    console.print(f"registered [bold]{cap.name}[/bold] v{cap.version} as a draft owned by {cap.owner}; "
                  f"publish it with `urbanbrain capability approve {cap.name} --dept {cap.owner}`")


SUGGEST_COLUMNS = ["name", "title_zh", "title_en", "pattern", "column", "pii_type", "needs_purpose", "published"]


@app.command("suggest")
def suggest(dataset: Annotated[str, typer.Argument(help="department.system.object")],
            fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Propose data APIs for a dataset (nothing is published); publish one with `publish --suggestion`."""
    from urbanbrain.capability.suggest import suggest_capabilities

    rows = [s.as_dict() for s in suggest_capabilities(dataset)]
    emit_rows(rows, fmt, columns=SUGGEST_COLUMNS, title=f"Suggested data APIs for {dataset}", output=output)
    if fmt is Format.table and rows:
        console.print(f"publish one: urbanbrain capability publish --dataset {dataset} --suggestion NAME"
                      " [--purpose '...' for lookups by personal fields]")


@app.command("approve")
def approve(name: Annotated[str, typer.Argument(help="Capability name.")], version: VersionOption = None,
            dept: DeptOption = None,
            approver: Annotated[str, typer.Option("--approver", help="Who approves.")] = "owner") -> None:
    """Publish a draft: the owning department releases it to the city."""
    cap = catalog.approve_capability(name, version, approver, dept)
    console.print(f"[green]published[/green] {cap.name} v{cap.version} at {cap.path}")


@app.command("deprecate")
def deprecate(name: Annotated[str, typer.Argument(help="Capability name.")], version: VersionOption = None,
              dept: DeptOption = None) -> None:
    """Deprecate: existing grants keep working, no new grants are accepted."""
    cap = catalog.deprecate_capability(name, version, dept)
    console.print(f"deprecated {cap.name} v{cap.version}")


def parse_params(pairs: list[str] | None, body: str | None) -> dict[str, Any]:
    """`--param k=v` pairs (values parsed as JSON when they parse) over an optional `--json` body."""
    params: dict[str, Any] = json.loads(body) if body else {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--param {pair!r} is not key=value", hint="e.g. --param code=9143...")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


@app.command("call")
def call(
    name: Annotated[str, typer.Argument(help="Capability name.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value; repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--json", help="All parameters as one JSON object.")] = None,
    key: Annotated[str | None, typer.Option("--key", envvar="URBANBRAIN_API_KEY", show_envvar=True,
                                            help="API key (better: the environment variable).")] = None,
    version: VersionOption = None,
) -> None:
    """Call a capability through the gateway (key, grant, quota, schema, metering) and print its JSON."""
    resolved = version or catalog.get_capability(name).version
    from urbanbrain.web.errors import status_for  # metered with the status an HTTP caller would get

    try:
        _, encoded = gateway.invoke_encoded(name, resolved, parse_params(param, body), key, status_of=status_for)
    finally:
        flush_all()
    typer.echo(json.dumps(json.loads(encoded), ensure_ascii=False, indent=2))
