"""The FastAPI application factory (`uvicorn --factory urbanbrain.web.app:create_app`).

A factory rather than a module-level app, so settings (URBANBRAIN_HOME, the database URL) are read
when the server starts, and tests get a fresh app per test.
"""

from __future__ import annotations

from fastapi import FastAPI

from urbanbrain.web.api import api_router
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.console import console_lifespan, mount_console
from urbanbrain.web.errors import register_error_handlers
from urbanbrain.web.limits import MAX_BODY_BYTES, BodySizeLimit


def create_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="urbanbrain",
        version=installed_version(),
        description="An open city brain: connect department systems, sync them into one lakehouse, query it.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=console_lifespan,
    )
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.include_router(api_router())
    mount_console(app)  # the console's pages, from `/`; after the API so its error pages wrap the JSON ones
    return app
