"""`urbanbrain stream` runs the feeds; `urbanbrain live TYPE` shows devices' current state."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, console, emit_rows
from urbanbrain.core.errors import ValidationError


def stream_command(
    feed: Annotated[list[str] | None, typer.Option("--feed", help="Run only these feeds (repeatable).")] = None,
    batch_seconds: Annotated[float, typer.Option("--batch-seconds", help="History commit interval (seconds).")] = 2.0,
) -> None:
    """Run every MQTT and NATS feed: live state, history, rules and alerts, until Ctrl-C or SIGTERM."""
    from urbanbrain.core.logs import configure_logging
    from urbanbrain.operate.intake.alerts import subscribe_alerts
    from urbanbrain.stream.runner import StreamProcess

    subscribe_alerts()  # alerts raised here become cases (with NATS as the bus, any process could do it)
    configure_logging()  # text, or JSON lines with URBANBRAIN_LOG_FORMAT=json
    proc = StreamProcess(list(feed) if feed else None, batch_seconds=batch_seconds)

    def _stop(*_: Any) -> None:
        proc.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print("stream: running feeds (Ctrl-C stops after committing what is buffered)")
    proc.run()


def live_command(
    type: Annotated[str | None, typer.Argument(help="Entity type, e.g. AirQualityObserved.")] = None,
    feed: Annotated[str | None, typer.Option("--feed")] = None,
    device: Annotated[str | None, typer.Option("--device")] = None,
    near: Annotated[str | None, typer.Option("--near", help="lon,lat")] = None,
    max_distance: Annotated[str | None, typer.Option("--max-distance", help="e.g. 3km")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="ATTR=VALUE or ATTR=>75, repeatable.")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    fmt: FormatOption = Format.table,
    by: AsOption = None,
) -> None:
    """Current state of devices: latest value of every attribute with its observation time."""
    from urbanbrain.stream import service

    point = service.parse_point(near, "--near ") if near else None
    filters = {}
    for w in where or []:
        k, sep, v = w.partition("=")
        if not sep:
            raise ValidationError(f"--where {w!r} is not ATTR=VALUE")
        filters[k] = v
    rows = service.live_state(acting_principal(by), type=type, feed=feed, device=device, near=point,
                              max_distance_m=service.parse_distance(max_distance) if max_distance else None,
                              where=filters or None, limit=limit)
    if fmt is Format.json:
        emit_rows(rows, fmt, columns=["feed", "device_id", "type", "observed_at", "lon", "lat", "distance_m",
                                      "attributes"])
        return
    flat = [{**{k: v for k, v in r.items() if k != "attributes"},
             "values": ", ".join(f"{k}={a.get('value')}" for k, a in r["attributes"].items()
                                 if isinstance(a.get("value"), int | float))} for r in rows]
    emit_rows(flat, fmt, columns=["feed", "device_id", "type", "observed_at", "distance_m", "values"],
              title="Live state")
