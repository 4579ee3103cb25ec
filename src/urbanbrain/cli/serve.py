"""`urbanbrain serve`: the REST API (and later the console) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from urbanbrain.cli.output import say


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API at http://HOST:PORT/api (OpenAPI docs at /docs)."""
    import uvicorn

    say(f"urbanbrain API on http://{host}:{port}/api — docs at http://{host}:{port}/docs")
    uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, reload=reload)
