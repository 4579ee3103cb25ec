"""`urbanbrain worker`: run scheduled syncs until Ctrl-C / SIGTERM, then finish the running ones."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from urbanbrain.cli.output import say
from urbanbrain.core.lazy import lazy_function

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.sync.worker import run_worker
else:
    run_worker = lazy_function("urbanbrain.sync.worker", "run_worker")


def worker_command(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Syncs at once (default: settings).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, wait for it, and exit.")] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="Seconds between looks for due systems.")] = 5.0,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="Where syncs run: inprocess, ray://HOST:PORT or ray://auto (default: URBANBRAIN_ENGINE).")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", min=1, max=65535, help="Serve Prometheus figures on http://127.0.0.1:PORT/metrics.")
    ] = None,
    jobs: Annotated[bool, typer.Option(
        "--jobs/--no-jobs", help="Also run the periodic jobs (SLA sweep, due indicators, case tables, lake "
                                 "maintenance), each in one worker of the cluster at a time.")] = True,
) -> None:
    """Run due syncs on their schedules, and the periodic jobs (several workers may share one PostgreSQL
    metadata store)."""
    from urbanbrain.core.logs import configure_logging

    configure_logging()
    if metrics_port is not None:
        from urbanbrain.web.metrics import serve_metrics

        serve_metrics(metrics_port)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        say("stopping: waiting for running syncs to finish")
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        if not once:
            say("worker started; Ctrl-C stops it after the running syncs finish")
        run_worker(concurrency=concurrency, poll_seconds=poll, once=once, stop=stop, engine=engine, jobs=jobs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
