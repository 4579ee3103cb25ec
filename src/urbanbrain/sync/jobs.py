"""Running the periodic jobs (`core/jobs.py`) inside `urbanbrain worker`: one thread per job.

Each thread first takes the job's lease (`job:<name>`) and keeps it, renewed, while it runs the job every
`every()` seconds; the other workers' threads stand by and retry the lease each round, so a job runs in
exactly one process of the cluster and moves to another within the lease's lifetime when its holder dies.
A failing round is logged and retried next round, never raised: the worker's syncs go on.
"""

from __future__ import annotations

import logging
import threading

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.core.jobs import JOBS, Job
from urbanbrain.meta import leases

log = logging.getLogger("urbanbrain.jobs")
STANDBY_SECONDS = 30.0  # how often a worker without the lease tries again


def run_round(job: Job) -> object:
    """One round of `job`, errors logged (the next round retries)."""
    try:
        summary = job.run()
    except Exception:
        log.exception("periodic job %s failed; retrying next round", job.name)
        return None
    if summary:
        log.info("periodic job %s: %s", job.name, summary)
    return summary


def _loop(job: Job, stop: threading.Event) -> None:
    while not stop.is_set():
        every = job.every()
        if every <= 0:  # switched off: look at the setting again later
            stop.wait(STANDBY_SECONDS)
            continue
        held = leases.hold(f"job:{job.name}")
        if held is None:  # another worker runs it
            stop.wait(min(every, STANDBY_SECONDS))
            continue
        with held:
            while not stop.is_set() and not held.lost.is_set():
                run_round(job)
                every = job.every()
                if every <= 0 or stop.wait(every):
                    break


def load_jobs() -> list[Job]:
    """Every registered job; one that fails to load is logged and left out (the others still run)."""
    jobs = []
    for name in JOBS.names():
        try:
            jobs.append(JOBS.get(name))
        except UrbanBrainError as exc:
            log.error("periodic job %s is not run: %s", name, exc)
    return jobs


def start_jobs(stop: threading.Event, only: list[str] | None = None) -> list[threading.Thread]:
    """Start one daemon thread per job (or per job named in `only`); they end when `stop` is set."""
    threads = []
    for job in load_jobs():
        if only is not None and job.name not in only:
            continue
        thread = threading.Thread(target=_loop, args=(job, stop), name=f"ub-job:{job.name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
