"""Periodic jobs: work a platform needs done every so often, beside the scheduled syncs.

The SLA sweep (warnings and escalations), computing due indicators, publishing the case tables to the lake
and lake maintenance are not syncs of a source system, but each must run somewhere, on a schedule, and in
only one process of a cluster. They are plug-ins of one kind (entry-point group `urbanbrain.jobs`, like
connectors and feeds), so `urbanbrain worker` runs them all without knowing the layers above it, and a new
one is one module plus one line of packaging metadata. The runner (`sync/jobs.py`) keeps each job in one
process at a time with a lease (`job:<name>`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from urbanbrain.core.registry import Registry


@dataclass(frozen=True)
class Job:
    """`run()` does one round and returns a short summary for the log (or None); `every()` is the pause
    between rounds in seconds, read from the settings at each round (0 or less: switched off)."""

    name: str
    every: Callable[[], float]
    run: Callable[[], object]
    description: str = ""


JOBS: Registry[Job] = Registry("urbanbrain.jobs", "periodic job")
