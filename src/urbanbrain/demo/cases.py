"""The demo city runs the closed loop: a day of hotline reports, dispatched, worked, some late, some returned.

Reports come from the hotline's complaint templates on real Changsha roads, at the hotline's hourly
profile; 80 % name their category (the operator chose it), the rest wait in the dispatcher's inbox.
Departments' simulated handlers accept after minutes to hours (about one in ten after the response
limit), one in twelve sends the case back, the dispatcher re-dispatches, work takes hours, residents rate.
Everything runs on a simulated clock (`now=` on every call) with the SLA sweep every half hour, so a
day is simulated in seconds and the history reads as if it happened: the console's inbox, queues,
clocks and statistics show it. Re-running continues with new reports (source ids are unique per seed).
"""

from __future__ import annotations

import contextlib
import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from urbanbrain.core.errors import AlreadyExistsError, UrbanBrainError
from urbanbrain.govern.principals import SYSTEM, Principal
from urbanbrain.meta.departments import add_department

DISPATCHER = Principal("system", "demo:dispatcher")


@dataclass
class LoopResult:
    reports: int = 0
    auto_dispatched: int = 0
    inbox: int = 0
    returned: int = 0
    closed: int = 0
    escalations: dict[str, int] = field(default_factory=dict)


def _setup() -> dict[str, str]:
    from urbanbrain.demo.departments import DEPARTMENTS
    from urbanbrain.demo.hotline import CATEGORIES
    from urbanbrain.operate import catalogue, sla

    for d in DEPARTMENTS:
        with contextlib.suppress(AlreadyExistsError):
            add_department(d.name, d.code)
    owners = {cat: dept for cat, (dept, _) in CATEGORIES.items()}
    for cat, dept in owners.items():
        catalogue.set_rule(SYSTEM, cat, dept)
    sla.set_policy(SYSTEM, "*", respond="1h", resolve="1d")
    sla.set_policy(SYSTEM, "*", priority="urgent", respond="30m", resolve="4h")
    return owners


def run_loop(reports: int = 200, *, start: datetime, seed: int = 7) -> LoopResult:
    """Simulate one day from `start` (UTC); returns what happened."""
    from urbanbrain.demo import geo
    from urbanbrain.demo.hotline import CATEGORIES, _hour_profile
    from urbanbrain.operate import sla
    from urbanbrain.operate.cases import Report, transition
    from urbanbrain.operate.intake.base import submit

    owners = _setup()
    rng = np.random.default_rng(seed)
    cats = list(CATEGORIES)
    districts = geo.districts()
    hours = rng.choice(24, reports, p=_hour_profile())
    times = sorted(start + timedelta(hours=int(h), seconds=int(s))
                   for h, s in zip(hours, rng.integers(0, 3600, reports), strict=True))
    queue: list[tuple[datetime, int, str, str]] = []
    result = LoopResult()
    k = 0

    def later(at: datetime, minutes: float, case_id: str, action: str) -> None:
        nonlocal k
        k += 1
        heapq.heappush(queue, (at + timedelta(minutes=float(minutes)), k, case_id, action))

    for i, at in enumerate(times):
        cat = cats[int(rng.integers(0, len(cats)))]
        d = districts[int(rng.integers(0, len(districts)))]
        road = d.roads[int(rng.integers(0, len(d.roads)))]
        templates = CATEGORIES[cat][1]
        text = templates[int(rng.integers(0, len(templates)))].format(
            road=road, road2=road, district=d.name, n=int(rng.integers(1, 400)))
        report = Report(description=text, channel="demo-hotline", source_ref=f"{seed}-{start:%Y%m%d}-{i}",
                        category=cat if rng.random() < 0.8 else None,
                        priority="urgent" if cat == "安全隐患" else "normal",
                        address=f"长沙市{d.name}{road}{int(rng.integers(1, 300))}号",
                        lon=d.lon + float(rng.normal(0, 0.01)), lat=d.lat + float(rng.normal(0, 0.01)),
                        extra={"true_category": cat})
        try:
            case, created = submit(report, SYSTEM, now=at, require_location=True)
        except UrbanBrainError:
            continue
        if not created:
            continue
        result.reports += 1
        if case["status"] == "dispatched":
            result.auto_dispatched += 1
            later(at, rng.exponential(35), case["id"], "accept")
        else:
            result.inbox += 1
            later(at, rng.exponential(20) + 5, case["id"], f"dispatch:{cat}")
    next_sweep = start + timedelta(minutes=30)
    end = start + timedelta(days=2)
    while queue:
        at, _, case_id, action = heapq.heappop(queue)
        while next_sweep <= min(at, end):
            counts = sla.sweep(next_sweep)
            for key, n in counts.items():
                result.escalations[key] = result.escalations.get(key, 0) + n
            next_sweep += timedelta(minutes=30)
        if at > end:
            break
        try:
            if action.startswith("dispatch:"):
                cat = action.split(":", 1)[1]
                transition(case_id, "dispatch", DISPATCHER, now=at, department=owners[cat], category=cat)
                later(at, rng.exponential(35), case_id, "accept")
            elif action == "accept":
                if rng.random() < 0.08:
                    transition(case_id, "return", SYSTEM, now=at, reason="不属于本部门职责")
                    result.returned += 1
                    cat = _category(case_id)
                    later(at, rng.exponential(25) + 5, case_id, f"dispatch:{cat}")
                else:
                    transition(case_id, "accept", SYSTEM, now=at)
                    later(at, rng.exponential(360) + 30, case_id, "feedback")
            elif action == "feedback":
                transition(case_id, "feedback", SYSTEM, now=at, note="已现场处置")
                later(at, rng.exponential(90) + 10, case_id, "rate")
            elif action == "rate":
                transition(case_id, "rate", DISPATCHER, now=at,
                           satisfaction=int(rng.choice([5, 4, 3, 2], p=[0.6, 0.25, 0.1, 0.05])))
                transition(case_id, "close", DISPATCHER, now=at)
                result.closed += 1
        except UrbanBrainError:
            continue
    return result


def _category(case_id: str) -> str:
    from urbanbrain.operate.cases import get_case

    case = get_case(case_id, SYSTEM, with_history=False)
    return str(case["proposal"].get("true_category") or case["category"])
