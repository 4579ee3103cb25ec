"""The FastAPI application factory (`uvicorn --factory urbanbrain.web.app:create_app`).

A factory rather than a module-level app, so settings (URBANBRAIN_HOME, the database URL) are read
when the server starts, and tests get a fresh app per test.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from urbanbrain.web.api import api_router
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.errors import register_error_handlers
from urbanbrain.web.limits import MAX_BODY_BYTES, BodySizeLimit


def create_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="urbanbrain",
        version=installed_version(),
        description="An open city brain: connect department systems, sync them into one lakehouse, query it.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.include_router(api_router())

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/docs")  # the console (HTML) comes later

    return app
