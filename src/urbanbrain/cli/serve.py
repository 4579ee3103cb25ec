"""`urbanbrain serve`: the REST API (and later the console) under uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import say
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.core import settings
else:
    settings = lazy_module("urbanbrain.core.settings")


def serving_defaults() -> None:
    """Settings a long-running server wants and a one-shot command does not, unless set explicitly:
    metering and audit batches are written by a child process, off the server's GIL
    (`urbanbrain.meta.writer`; bench/gateway: 0.49x -> 0.62x a bare route)."""
    os.environ.setdefault("URBANBRAIN_WRITER_PROCESS", "true")
    settings.get_settings.cache_clear()


def check_port(host: str, port: int) -> None:
    """Fail with the fix (`--port`) when another process holds the port, instead of uvicorn's raw
    `[Errno 98] address already in use` after start-up."""
    import errno
    import socket

    from urbanbrain.core.errors import ConfigurationError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is not busy
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use (another urbanbrain or another server)",
                    hint=f"stop that process, or choose another port: --port {port + 1}") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise ConfigurationError(f"not allowed to listen on port {port}",
                                         hint="ports below 1024 need root; use e.g. --port 8080") from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                     hint="check --host (an address of this machine, e.g. 127.0.0.1)") from None


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

    from urbanbrain.core.logs import configure_logging, uvicorn_log_config

    check_port(host, port)
    serving_defaults()
    configure_logging()
    if stream and not reload:
        from urbanbrain.operate.intake.alerts import subscribe_alerts
        from urbanbrain.stream.runner import start_background

        subscribe_alerts()  # alerts raised by this process's feeds become cases
        start_background()
    say(f"urbanbrain API on http://{host}:{port}/api — docs at http://{host}:{port}/docs")
    uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, reload=reload,
                log_config=uvicorn_log_config())
