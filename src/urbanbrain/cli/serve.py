"""`urbanbrain serve`: the REST API (and later the console) under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from urbanbrain.cli.output import say
from urbanbrain.core.settings import get_settings


def serving_defaults() -> None:
    """Settings a long-running server wants and a one-shot command does not, unless set explicitly:
    metering and audit batches are written by a child process, off the server's GIL
    (`urbanbrain.meta.writer`; bench/gateway: 0.49x -> 0.62x a bare route)."""
    os.environ.setdefault("URBANBRAIN_WRITER_PROCESS", "true")
    get_settings.cache_clear()


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes (development).")] = False,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Also run the MQTT/NATS feeds "
                                         "(what `urbanbrain stream` does) in this process.")] = True,
) -> None:
    """Serve the API at http://HOST:PORT/api (OpenAPI docs at /docs)."""
    import uvicorn

    serving_defaults()
    if stream and not reload:
        from urbanbrain.operate.intake.alerts import subscribe_alerts
        from urbanbrain.stream.runner import start_background

        subscribe_alerts()  # alerts raised by this process's feeds become cases
        start_background()
    say(f"urbanbrain API on http://{host}:{port}/api — docs at http://{host}:{port}/docs")
    uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, reload=reload)
