"""`urbanbrain feed ...`: live sensor feeds (MQTT, NATS JetStream, HTTP push); `urbanbrain stream` runs them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows
from urbanbrain.core.errors import ValidationError

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["name", "department", "kind", "model", "topic", "devices", "messages", "readings", "dead_letters",
           "last_message_at", "dataset"]


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValidationError(f"{what} {item!r} is not NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Feed name, e.g. air-stations.")],
    dept: Annotated[str, typer.Option("--dept", help="Owning department code.")],
    kind: Annotated[str, typer.Option("--kind", help="mqtt, nats or http.")],
    url: Annotated[str | None, typer.Option("--url", help="mqtt://host:1883, mqtts://..., nats://host:4222.")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="MQTT topic filter, e.g. city/air/+/observed.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="NATS subject, e.g. traffic.detectors.>.")] = None,
    qos: Annotated[int, typer.Option("--qos", help="MQTT QoS 0 or 1 (1: nothing lost).")] = 1,
    mqtt_version: Annotated[str, typer.Option("--mqtt-version", help="3.1.1 or 5.")] = "3.1.1",
    username: Annotated[str | None, typer.Option("--username")] = None,
    password: Annotated[str | None, typer.Option("--password")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Use TLS.")] = False,
    model: Annotated[str | None, typer.Option("--model", help="Smart Data Model, e.g. AirQualityObserved.")] = None,
    fmt: Annotated[str, typer.Option("--payload", help="ngsi, json (with a mapping) or csv.")] = "ngsi",
    id_path: Annotated[str | None, typer.Option("--id", help="Device id: JSON path ($.dev) or CSV column.")] = None,
    time_path: Annotated[str | None, typer.Option("--time", help="Observation time: JSON path or column.")] = None,
    attr: Annotated[list[str] | None, typer.Option("--attr", help="NAME=PATH, repeatable.")] = None,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="NAME=UNCEFACT code, repeatable.")] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="CSV columns, comma-separated.")] = None,
    by: AsOption = None,
) -> None:
    """Register a feed; its history becomes the dataset <dept>.<feed>.observations."""
    from urbanbrain.stream import service

    options: dict[str, Any] = {k: v for k, v in {"url": url, "topic": topic, "subject": subject,
                                                   "username": username, "password": password}.items() if v}
    if kind == "mqtt":
        options.update(qos=qos, version=mqtt_version, tls=tls)
    mapping: dict[str, Any] = {}
    if id_path:
        mapping["id"] = id_path
    if time_path:
        mapping["time"] = time_path
    if attr:
        mapping["attributes"] = _pairs(attr, "--attr")
    if unit:
        mapping["units"] = _pairs(unit, "--unit")
    if columns:
        mapping["columns"] = [c.strip() for c in columns.split(",")]
    out = service.create_feed(acting_principal(by), name, dept, kind, options, model=model, fmt=fmt,
                              mapping=mapping if (fmt != "ngsi" or mapping) else None)
    console.print(f"added feed [bold]{name}[/bold] ({kind}); history: {out['dataset']}")
    if out.get("key"):
        console.print(f"push key (shown once): [bold]{out['key']}[/bold]  — POST to /api/feeds/{name} "
                      "with header X-Feed-Key")


@app.command("list")
def list_(dept: Annotated[str | None, typer.Option("--dept")] = None, fmt: FormatOption = Format.table,
          output: OutputOption = None) -> None:
    """List feeds with their counters."""
    from urbanbrain.stream import service

    emit_rows(service.list_feeds(dept), fmt, columns=COLUMNS, title="Feeds", output=output)


@app.command("status")
def status(name: Annotated[str, typer.Argument()], silent: Annotated[str, typer.Option(
        "--silent-after", help="A device is silent after this long without a reading.")] = "15m",
        fmt: FormatOption = Format.table, by: AsOption = None) -> None:
    """Counters, devices, silent devices, last dead letters of one feed."""
    from urbanbrain.stream import service
    from urbanbrain.stream.rules import parse_duration

    out = service.feed_status(acting_principal(by), name, parse_duration(silent))
    if fmt is Format.json:
        console.print_json(json.dumps(out, default=str))
        return
    emit_rows([out], Format.table, columns=[*COLUMNS, "last_error"], vertical=True)
    console.print(f"silent devices ({len(out['silent_devices'])}): {', '.join(out['silent_devices'][:50]) or '-'}")
    for d in out["recent_dead_letters"]:
        console.print(f"[red]dead letter[/red] {d['at']} {d['device_id'] or '-'}: {d['reason']}")


@app.command("dead-letters")
def dead_letters(name: Annotated[str, typer.Argument()], limit: Annotated[int, typer.Option("--limit")] = 50,
                 fmt: FormatOption = Format.table, output: OutputOption = None, by: AsOption = None) -> None:
    """Messages the feed refused, with the reason and the raw payload."""
    from urbanbrain.stream import service

    emit_rows(service.dead_letters(acting_principal(by), name, limit), fmt,
              columns=["id", "at", "device_id", "reason", "bytes", "raw"], output=output)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument()],
           purge: Annotated[bool, typer.Option("--purge", help="Also drop its history table.")] = False,
           by: AsOption = None) -> None:
    """Remove a feed (its devices, dead letters and rules)."""
    from urbanbrain.stream import service

    service.delete_feed(acting_principal(by), name, purge=purge)
    console.print(f"removed feed [bold]{name}[/bold]")
