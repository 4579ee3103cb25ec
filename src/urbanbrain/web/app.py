"""The FastAPI application factory (`uvicorn --factory urbanbrain.web.app:create_app`).

A factory rather than a module-level app, so settings (URBANBRAIN_HOME, the database URL) are read
when the server starts, and tests get a fresh app per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from urbanbrain.capability.metering import close_all as close_meters
from urbanbrain.web.api import api_router, gateway_router
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.console import console_lifespan, mount_console
from urbanbrain.web.errors import register_error_handlers
from urbanbrain.web.limits import MAX_BODY_BYTES, BodySizeLimit


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The console's pools stop, then buffered metering records are written before the process ends."""
    async with console_lifespan(app):
        yield
    close_meters()


def create_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="urbanbrain",
        version=installed_version(),
        description="An open city brain: connect department systems, sync them into one lakehouse, query it.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.include_router(api_router())
    app.include_router(gateway_router())  # /capabilities/...: the gateway applications call
    mount_console(app)  # the console's pages, from `/`; after the API so its error pages wrap the JSON ones
    return app
