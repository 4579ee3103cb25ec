"""The operator console: server-rendered pages (Jinja2 + HTMX + ECharts), one module per page.

`mount_console(app)` adds the pages, the static assets (all served locally), the HTML error pages and
the sync-now pool; `console_lifespan` shuts that pool down with the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from urbanbrain.web.console import (
    alerts,
    audit,
    capabilities,
    consumers,
    dataset_apis,
    datasets,
    grants,
    lang,
    link,
    live,
    login,
    overview,
    runs,
    sharing,
    sql,
    systems,
    usage,
)
from urbanbrain.web.console.errors import register_console_error_handlers
from urbanbrain.web.console.jobs import SyncJobs

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


@asynccontextmanager
async def console_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    jobs: SyncJobs | None = getattr(app.state, "sync_jobs", None)
    if jobs is not None:
        jobs.shutdown()


def mount_console(app: FastAPI) -> None:
    app.state.sync_jobs = SyncJobs()
    register_console_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (login, overview, systems, datasets, runs, sql, capabilities, consumers, grants, sharing, link, usage,
                   audit, lang, dataset_apis, live, alerts):
        app.include_router(module.router, include_in_schema=False)
