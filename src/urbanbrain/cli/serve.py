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


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API at http://HOST:PORT/api (OpenAPI docs at /docs)."""
    import uvicorn

    serving_defaults()
    say(f"urbanbrain API on http://{host}:{port}/api — docs at http://{host}:{port}/docs")
    uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, reload=reload)
