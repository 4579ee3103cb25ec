"""Process figures for Prometheus: counters the hot paths bump, read only when `/metrics` is scraped.

A bump is one dict update under the GIL: no lock, no label lookup object, no allocation after the
first call with a label set, so the gateway's ~50 us call path pays well under a microsecond (bench:
`bench/gateway`). The price: two threads bumping the same counter at the same instant may lose one
increment. The gateway and the API run on one event loop thread, so there it is exact; sync and query
figures come from pool threads, where such a collision is rare and costs one count, never a crash.

Figures about the whole platform rather than this process (cases by status, feed totals) are read from
the metadata store at scrape time (`web/metrics.py`), so they are the same on every process: aggregate
those with `max`, the per-process counters here with `sum`.

`prometheus_client` renders the exposition format; it is imported only when a scrape happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """A counter (or a summary: `_sum`/`_count` pairs) with fixed label names."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    kind: str = "counter"  # counter | summary
    values: dict[tuple[str, ...], float] = field(default_factory=dict)
    counts: dict[tuple[str, ...], int] = field(default_factory=dict)  # summaries: observations

    def inc(self, *labels: str, by: float = 1.0) -> None:
        values = self.values
        values[labels] = values.get(labels, 0.0) + by

    def observe(self, value: float, *labels: str) -> None:
        values, counts = self.values, self.counts
        values[labels] = values.get(labels, 0.0) + value
        counts[labels] = counts.get(labels, 0) + 1


FIGURES: dict[str, Figure] = {}


def figure(name: str, help: str, labels: tuple[str, ...] = (), kind: str = "counter") -> Figure:
    found = FIGURES.get(name)
    if found is None:
        found = FIGURES[name] = Figure(name, help, labels, kind)
    return found


SYNC_RUNS = figure("urbanbrain_sync_runs", "Sync runs finished, by outcome.", ("status",))
SYNC_ROWS = figure("urbanbrain_sync_rows", "Rows synced into the lake (written) or quarantined (rejected).",
                   ("outcome",))
SYNC_SECONDS = figure("urbanbrain_sync_seconds", "Wall time of finished sync runs.", kind="summary")
QUERIES = figure("urbanbrain_queries", "Governed SQL queries, by engine and outcome.", ("engine", "outcome"))
QUERY_SECONDS = figure("urbanbrain_query_seconds", "Wall time of governed SQL queries.", ("engine",), kind="summary")
GATEWAY_CALLS = figure("urbanbrain_gateway_calls", "Capability calls through the gateway, by HTTP status.",
                       ("status",))
GATEWAY_SECONDS = figure("urbanbrain_gateway_seconds", "Latency of capability calls (gateway work and the kind).",
                         kind="summary")


def observe_sync(run: Any) -> None:
    """Count one finished sync run (a `SyncRunPublic`)."""
    SYNC_RUNS.inc(str(run.status))
    SYNC_ROWS.inc("written", by=float(run.rows_written or 0))
    SYNC_ROWS.inc("rejected", by=float(run.rows_rejected or 0))
    if run.finished_at is not None and run.started_at is not None:
        SYNC_SECONDS.observe(max(0.0, (run.finished_at - run.started_at).total_seconds()))


def samples() -> list[tuple[Figure, list[tuple[str, dict[str, str], float]]]]:
    """Every figure with its samples (suffix, labels, value), copied so a scrape never sees a dict change."""
    out = []
    for fig in list(FIGURES.values()):
        rows: list[tuple[str, dict[str, str], float]] = []
        for labels, value in list(fig.values.items()):
            named = dict(zip(fig.labels, labels, strict=False))
            if fig.kind == "summary":
                rows.append(("_sum", named, value))
                rows.append(("_count", named, float(fig.counts.get(labels, 0))))
            else:
                rows.append(("_total", named, value))
        out.append((fig, rows))
    return out
