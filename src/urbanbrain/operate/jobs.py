"""The event loop's and the vital signs' periodic jobs (`core/jobs.py`), run by `urbanbrain worker`.

Without them a deployment would need its own cron lines for work the platform promises: SLA warnings and
escalations raised on time, indicators refreshed on their schedules, the case tables in the lake kept
current for analysts. Each runs as SYSTEM and leaves its own audit entries (the services it calls do).
"""

from __future__ import annotations

from urbanbrain.core.jobs import Job
from urbanbrain.core.settings import get_settings


def _sla_sweep() -> object:
    from urbanbrain.operate import sla

    counts = sla.sweep()
    return {k: v for k, v in counts.items() if v} or None


def _indicators() -> object:
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.indicator_compute import compute_all

    done = compute_all(SYSTEM, only_due=True)
    return f"{len(done)} computed" if done else None


def _case_publish() -> object:
    from sqlalchemy import func, select

    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case
    from urbanbrain.operate import publish

    with session_scope() as s:
        if not s.scalar(select(func.count()).select_from(Case)):
            return None  # a platform without cases gets no empty case tables
    return f"published {', '.join(publish.publish(SYSTEM))}"


SLA_SWEEP = Job("sla-sweep", lambda: get_settings().sla_sweep_every_seconds, _sla_sweep,
                "raise the SLA warnings and escalations that came due")
INDICATORS = Job("indicator-compute", lambda: get_settings().indicator_compute_every_seconds, _indicators,
                 "compute the indicators whose schedule is due")
CASE_PUBLISH = Job("case-publish", lambda: get_settings().case_publish_every_minutes * 60, _case_publish,
                   "rewrite the case tables in the lake (`urbanbrain case publish`)")
