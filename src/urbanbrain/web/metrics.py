"""`GET /metrics`: Prometheus figures of this process and of the platform, for loopback or a platform admin.

Who may scrape: a request from this machine (a node-local Prometheus or agent, `curl` on the host), or
anyone presenting a platform admin's personal token (`Authorization: Bearer ...`, action
`metrics.read`). Figures name no person and no data, but queue sizes and call rates are still the
platform's business. Behind a reverse proxy every request looks local: do not forward `/metrics`.

Per-process counters (`core/metrics.py`: syncs, queries, gateway calls) are summed across processes by
Prometheus; platform figures (cases by status, feed totals, leases held) come from the metadata store,
cached for `PLATFORM_TTL` seconds so a busy scraper costs the store one small query set every 10 s.
`urbanbrain worker --metrics-port` serves the same text from the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from urbanbrain.core import metrics
from urbanbrain.core.errors import AuthenticationRequiredError

PLATFORM_TTL = 10.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_platform: tuple[float, list[Any]] = (0.0, [])

router = APIRouter()


def _platform_families() -> list[Any]:
    """Cases by status, feed totals, leases held: read from the metadata store at most every 10 s."""
    global _platform
    at, cached = _platform
    if time.monotonic() - at < PLATFORM_TTL:
        return cached
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from sqlalchemy import func, select

    from urbanbrain.core.clock import utcnow
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case, Feed, Lease

    cases = GaugeMetricFamily("urbanbrain_cases", "Cases by status (the whole platform).", labels=["status"])
    messages = CounterMetricFamily("urbanbrain_stream_messages", "Messages received per feed.", labels=["feed"])
    readings = CounterMetricFamily("urbanbrain_stream_readings", "Readings accepted per feed.", labels=["feed"])
    dead = CounterMetricFamily("urbanbrain_stream_dead_letters", "Messages refused per feed.", labels=["feed"])
    held = GaugeMetricFamily("urbanbrain_leases_held", "Scheduled work running now, by kind (sync, indicator, ...).",
                             labels=["kind"])
    with session_scope() as s:
        for status, n in s.execute(select(Case.status, func.count()).group_by(Case.status)).all():
            cases.add_metric([str(status)], float(n))
        for name, m, r, d in s.execute(select(Feed.name, Feed.messages_total, Feed.readings_total,
                                              Feed.dead_letters_total)).all():
            messages.add_metric([name], float(m or 0))
            readings.add_metric([name], float(r or 0))
            dead.add_metric([name], float(d or 0))
        kinds: dict[str, int] = {}
        for (name,) in s.execute(select(Lease.name).where(Lease.expires_at >= utcnow())).all():
            kind = str(name).split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        for kind, n in sorted(kinds.items()):
            held.add_metric([kind], float(n))
    families = [cases, messages, readings, dead, held]
    _platform = (time.monotonic(), families)
    return families


class Collector:
    """Hands prometheus_client this process's counters and, optionally, the platform's figures."""

    def __init__(self, platform: bool = True) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, SummaryMetricFamily

        for fig in list(metrics.FIGURES.values()):
            labels = list(fig.labels)
            family: Any
            if fig.kind == "summary":
                family = SummaryMetricFamily(fig.name, fig.help, labels=labels)
                for key, total in list(fig.values.items()):
                    family.add_metric(list(key), count_value=fig.counts.get(key, 0), sum_value=total)
            else:
                family = CounterMetricFamily(fig.name, fig.help, labels=labels)
                for key, total in list(fig.values.items()):
                    family.add_metric(list(key), total)
            yield family
        if self.platform:
            try:
                yield from _platform_families()
            except Exception:  # the metadata store is down: still serve this process's figures
                return


def exposition(platform: bool = True) -> bytes:
    """The Prometheus text for this process (and the platform's figures)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(platform))  # type: ignore[arg-type]
    return generate_latest(registry)


def may_scrape(request: Request) -> None:
    """Loopback, or a platform admin's bearer token (`metrics.read`); 401/403 otherwise."""
    from urbanbrain.govern.authz import authorize
    from urbanbrain.web.principal import is_loopback

    if is_loopback(request.client.host if request.client else None):
        return
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() != "bearer ":
        raise AuthenticationRequiredError("/metrics answers this machine, or a platform admin's token",
                                          hint="scrape with Authorization: Bearer <platform admin's token>")
    from urbanbrain.govern import users

    authorize("metrics.read", users.authenticate_token(authorization[7:]))


@router.get("/metrics", include_in_schema=False)
def metrics_route(request: Request) -> Response:
    may_scrape(request)
    return Response(exposition(), media_type=CONTENT_TYPE)


def serve_metrics(port: int, host: str = "127.0.0.1") -> Any:
    """Serve this process's figures on http://HOST:PORT/metrics in a thread (the worker's `--metrics-port`).
    Loopback by default: it has no token check, so expose it only to a node-local agent."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(True))  # type: ignore[arg-type]
    return start_http_server(port, addr=host, registry=registry)
