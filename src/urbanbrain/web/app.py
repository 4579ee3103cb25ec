"""The FastAPI application factory (`uvicorn --factory urbanbrain.web.app:create_app`).

A factory rather than a module-level app, so settings (URBANBRAIN_HOME, the database URL) are read
when the server starts, and tests get a fresh app per test.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from urbanbrain.capability.metering import close_all as close_meters
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.audit import close_all as close_audit
from urbanbrain.govern.users import ensure_first_admin
from urbanbrain.web.api import api_router, gateway_routes
from urbanbrain.web.api.cases import router as cases_router
from urbanbrain.web.api.health import installed_version
from urbanbrain.web.console import console_lifespan, mount_console
from urbanbrain.web.console.cases import router as cases_console_router
from urbanbrain.web.console.indicators import router as indicators_console_router
from urbanbrain.web.console.ioc_screens import router as ioc_screens_router
from urbanbrain.web.error_docs import install_openapi
from urbanbrain.web.errors import ErrorFormat, register_error_handlers, use_own_error_format
from urbanbrain.web.gateway_path import GatewayFastPath
from urbanbrain.web.limits import MAX_BODY_BYTES, BodySizeLimit
from urbanbrain.web.metrics import router as metrics_router
from urbanbrain.web.open311 import ERROR_SCHEMA as OPEN311_ERROR_SCHEMA
from urbanbrain.web.open311 import Open311Front
from urbanbrain.web.open311 import render_platform_error as open311_error
from urbanbrain.web.open311 import router as open311_router
from urbanbrain.web.principal import OPEN_PATHS, RequirePrincipal

_FROZEN = False


def _freeze_startup_objects() -> None:
    """Move what start-up allocated (modules, routes, templates, catalogs) out of the collector's scans.

    Full collections walking them paused the gateway's event loop ~13 ms (seen in bench/gateway). Once
    per process: objects frozen stay uncollectable, so freezing again per app (tests) would leak.
    """
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The console's pools stop, then buffered metering records and audit entries are written. On start,
    the warm-up thread (`web.warmup`) begins, unless `URBANBRAIN_WARMUP=false`."""
    async with console_lifespan(app):
        _freeze_startup_objects()
        if get_settings().warmup:
            from urbanbrain.web.warmup import start_warmup

            start_warmup()
        yield
    close_meters()
    close_audit()


def create_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="urbanbrain",
        version=installed_version(),
        description="An open city brain: connect department systems, sync them into one lakehouse, query it.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
        telemetry=None if get_settings().telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    ensure_first_admin()  # from URBANBRAIN_ADMIN_PASSWORD, once, when no user exists yet; never a default
    register_error_handlers(app)
    install_openapi(app, OPEN_PATHS)  # every operation declares each error status, with the one error schema
    app.add_middleware(RequirePrincipal)  # who is asking, before any route; login required once users exist
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(GatewayFastPath, max_bytes=max_body_bytes)  # outermost: capability calls skip the rest
    app.add_middleware(Open311Front)  # /open311/v2: its own few routes, key check, body cap and error shape
    app.include_router(api_router())
    app.include_router(metrics_router)  # /metrics: Prometheus, loopback or a platform admin's token
    app.include_router(cases_router)  # /api/cases, /api/dispatch-rules, /api/sla-policies, /api/case-stats
    app.include_router(open311_router)  # /open311/v2: public reads, POST with an api_key, Open311 error shape
    use_own_error_format(app, ErrorFormat("/open311", open311_error, OPEN311_ERROR_SCHEMA))
    app.router.routes[0:0] = gateway_routes()  # /capabilities/...: what applications call, matched first
    app.include_router(cases_console_router, include_in_schema=False)  # /cases: inbox, queue, case page, stats
    app.include_router(indicators_console_router, include_in_schema=False)  # /indicators, /ioc (the wall)
    app.include_router(ioc_screens_router, include_in_schema=False)  # /ioc/screens: what each wall shows
    mount_console(app)  # the console's pages, from `/`; after the API so its error pages wrap the JSON ones
    return app
