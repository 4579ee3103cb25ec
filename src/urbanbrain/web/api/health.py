"""`GET /api/health` (liveness, and each dependency's state) and `GET /api/ready` (readiness).

Health always answers 200 while the process serves requests, so a load balancer never kills a server
for an outage it cannot fix; its body says which dependency is down. Readiness answers 503 (with
Retry-After, in the API's error shape) while a required dependency is down, so traffic goes elsewhere.

Dependencies are probes registered in `DEPENDENCIES` (name -> probe, required?): the metadata database
always, Redis when quotas are shared through it, NATS when a URL for it is configured. A package that
adds a dependency registers its probe with `register_dependency`. Each probe has a short timeout, so
health stays fast when something hangs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from urbanbrain.core.errors import DependencyUnavailableError
from urbanbrain.core.settings import get_settings

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_SECONDS = 2.0

# A probe returns False when its dependency is not in use here, True when it answers; raises when it is down.
Probe = Callable[[], bool]


@dataclass(frozen=True)
class Dependency:
    probe: Probe
    required: bool


class DependencyState(BaseModel):
    name: str
    status: Literal["ok", "down", "unused"]
    required: bool
    detail: str | None = None
    ms: float | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    dependencies: list[DependencyState] = []


class Ready(BaseModel):
    ready: bool
    dependencies: list[DependencyState]


def installed_version() -> str:
    try:
        return version("urbanbrain")
    except PackageNotFoundError:
        return "unknown"


def _metadata() -> bool:
    from sqlalchemy import text

    from urbanbrain.meta.db import session_scope

    with session_scope() as s:
        s.execute(text("SELECT 1"))
    return True


def _redis() -> bool:
    from urbanbrain.capability.quota import RedisQuotaStore, get_quota_store

    store = get_quota_store()
    if not isinstance(store, RedisQuotaStore):
        return False  # counters in this process's memory: nothing to be down
    store.client.ping()
    return True


def _tcp(url: str, default_port: int) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port),
                                  timeout=PROBE_TIMEOUT_SECONDS):
        pass


def _nats() -> bool:
    url = getattr(get_settings(), "nats_url", None)
    if not url:
        return False
    _tcp(str(url).split(",")[0], 4222)
    return True


DEPENDENCIES: dict[str, Dependency] = {
    "metadata": Dependency(_metadata, required=True),
    "redis": Dependency(_redis, required=True),
    "nats": Dependency(_nats, required=False),
}


def register_dependency(name: str, probe: Probe, *, required: bool) -> None:
    """Have health and readiness check one more service (`probe` returns False when it is not in use,
    True when it answers, and raises when it is down)."""
    DEPENDENCIES[name] = Dependency(probe, required)


def _check(name: str, dependency: Dependency) -> DependencyState:
    started = time.perf_counter()
    try:
        used = dependency.probe()
    except Exception as exc:  # any failure to answer is "down"; the type says enough, never the URL
        return DependencyState(name=name, status="down", required=dependency.required, detail=type(exc).__name__,
                               ms=round((time.perf_counter() - started) * 1000, 1))
    if not used:
        return DependencyState(name=name, status="unused", required=dependency.required)
    return DependencyState(name=name, status="ok", required=dependency.required,
                           ms=round((time.perf_counter() - started) * 1000, 1))


def dependency_states() -> list[DependencyState]:
    return [_check(name, dependency) for name, dependency in DEPENDENCIES.items()]


@router.get("/health")
async def health() -> Health:
    """Liveness: 200 while this process serves; `status` is `degraded` when any dependency is down."""
    states = await run_in_threadpool(dependency_states)
    status: Literal["ok", "degraded"] = "degraded" if any(s.status == "down" for s in states) else "ok"
    return Health(status=status, version=installed_version(), dependencies=states)


@router.get("/ready")
async def ready() -> Ready:
    """Readiness: 200 when every required dependency answers, else 503 naming the first one down."""
    states = await run_in_threadpool(dependency_states)
    down = [s for s in states if s.status == "down" and s.required]
    if down:
        raise DependencyUnavailableError(f"not ready: {', '.join(s.name for s in down)} unavailable",
                                         dependency=down[0].name,
                                         hint="GET /api/health shows each dependency's state")
    return Ready(ready=True, dependencies=states)
