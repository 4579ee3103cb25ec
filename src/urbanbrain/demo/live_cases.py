"""The demo city runs the closed loop live while `urbanbrain demo` serves: reports keep arriving and
departments keep working them, so the console's inbox, queues, clocks and statistics move.

Time is compressed by `speed` (default 60: a city day in 24 minutes). Hotline tickets arrive at the
hotline's hourly profile of the current hour (`per_day` a simulated day), with some sensor alerts
(air quality, night noise, waterlogging) through the alert intake; most are dispatched automatically.
Simulated people act after realistic delays divided by `speed`: the dispatcher takes most of the inbox
(about a third is left for a person in the console), handlers accept (one in twelve sends the case
back), work for hours, report back; residents rate; the dispatcher closes. About one handler in ten is
slow, so some cases go overdue. The SLA policies are the demo's (1 h to respond, 1 day to resolve)
divided by `speed`, so warnings and escalations come on the same compressed clock, raised by the SLA
sweep this loop runs every few seconds. Every action is a real service call at the real time: the
console's clocks and the statistics read it as they read any other case.

Same building blocks as `urbanbrain case simulate` (`demo.cases`): the report generator and setup.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.principals import SYSTEM

log = logging.getLogger(__name__)
ALERT_RULES = (("pm25_high", "ecology", "air", "PM2.5 连续30分钟超过150"),
               ("noise_night", "urban", "noise", "夜间噪声超过55分贝"),
               ("waterlogging", "emergency", "water", "道路积水深度超过20厘米"))


@dataclass
class LiveStats:
    reports: int = 0
    alerts: int = 0
    auto_dispatched: int = 0
    inbox: int = 0
    returned: int = 0
    closed: int = 0
    actions: int = 0
    sweeps: dict[str, int] = field(default_factory=dict)
    errors: int = 0


class LiveLoop:
    """A background thread; `stop()` ends it within a second. `step(now)` runs one tick (tests call it)."""

    def __init__(self, *, speed: float = 60.0, per_day: int = 240, seed: int | None = None,
                 sweep_seconds: float = 5.0) -> None:
        self.speed = max(1.0, float(speed))
        self.per_day = per_day
        self.rng = np.random.default_rng(seed)
        self.sweep_seconds = sweep_seconds
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: list[tuple[float, int, str, str]] = []
        self._k = 0
        self._owners: dict[str, str] = {}
        self._next_report = 0.0
        self._sim_start: tuple[float, datetime] | None = None  # (monotonic, UTC) where the simulated clock began
        self._next_sweep = 0.0
        self._tag = f"{int(time.time())}"

    # --- set-up ------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Departments, the catalogue (hotline categories and alert rules) and compressed SLA policies."""
        from urbanbrain.demo.cases import _setup
        from urbanbrain.operate import catalogue, sla

        self._owners = _setup()
        for rule, dept, _feed, _msg in ALERT_RULES:
            catalogue.set_rule(SYSTEM, f"alert:{rule}", dept)

        def scaled(minutes: float) -> str:
            return f"{max(1, round(minutes / self.speed))}m"

        sla.set_policy(SYSTEM, "*", respond=scaled(60), resolve=scaled(1440))
        sla.set_policy(SYSTEM, "*", priority="urgent", respond=scaled(30), resolve=scaled(240))
        sla.set_policy(SYSTEM, "*", priority="high", respond=scaled(30), resolve=scaled(480))

    # --- the thread --------------------------------------------------------------------------------
    def start(self, *, delay: float = 0.0) -> LiveLoop:
        def run() -> None:
            if self._stop.wait(delay):
                return
            try:
                self.setup()
            except UrbanBrainError as exc:
                log.warning("live case loop not started: %s", exc)
                return
            while not self._stop.is_set():
                try:
                    self.step(time.monotonic())
                except Exception:  # one failed tick must not end the demo's loop
                    self.stats.errors += 1
                    log.exception("live case loop tick failed")
                self._stop.wait(0.5)

        self._thread = threading.Thread(target=run, name="ub-demo-cases", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- one tick ----------------------------------------------------------------------------------
    def step(self, now: float) -> None:
        """Everything due at monotonic time `now`: new reports, people's actions, the SLA sweep."""
        from urbanbrain.operate import sla

        if not self._owners:
            self.setup()
        if self._next_report == 0.0:
            self._next_report = self._next_sweep = now
        while self._next_report <= now and not self._stop.is_set():
            self._report(self._next_report)
            self._next_report += self._interval(self._next_report)
        while self._queue and self._queue[0][0] <= now and not self._stop.is_set():
            _, _, case_id, action = heapq.heappop(self._queue)
            self._act(case_id, action, now)
        if now >= self._next_sweep:
            for key, n in sla.sweep().items():
                self.stats.sweeps[key] = self.stats.sweeps.get(key, 0) + n
            self._next_sweep = now + self.sweep_seconds

    def _interval(self, at: float) -> float:
        """Seconds to the next report after monotonic time `at`: `per_day` a simulated day, shaped by the
        hour of the *simulated* day (the wall clock's hour stood still for a whole compressed day: the
        demo never showed a day's rhythm, and at Changsha's night a test saw a quarter of its reports)."""
        from urbanbrain.core.clock import utcnow
        from urbanbrain.demo.hotline import _hour_profile

        if self._sim_start is None:
            self._sim_start = (at, utcnow())
        simulated = self._sim_start[1] + timedelta(seconds=(at - self._sim_start[0]) * self.speed)
        hour = (simulated.hour + 8) % 24  # the hotline's profile is in Changsha's local time
        share = float(_hour_profile()[hour]) * 24  # 1.0 = an average hour
        mean = 86_400 / self.speed / self.per_day / max(share, 0.2)
        return float(self.rng.exponential(mean))

    def _later(self, now: float, sim_minutes: float, case_id: str, action: str) -> None:
        self._k += 1
        heapq.heappush(self._queue, (now + sim_minutes * 60 / self.speed, self._k, case_id, action))

    def _report(self, now: float) -> None:
        from urbanbrain.demo import geo
        from urbanbrain.demo.hotline import CATEGORIES
        from urbanbrain.operate.cases import Report
        from urbanbrain.operate.intake.alerts import handle_alert
        from urbanbrain.operate.intake.base import submit

        rng = self.rng
        d = geo.districts()[int(rng.integers(0, len(geo.districts())))]
        lon, lat = d.lon + float(rng.normal(0, 0.01)), d.lat + float(rng.normal(0, 0.01))
        self._k += 1
        try:
            if rng.random() < 0.12:  # a sensor alert from the real-time layer's rules
                rule, dept, feed, message = ALERT_RULES[int(rng.integers(0, len(ALERT_RULES)))]
                case = handle_alert({"alert_id": f"live-{self._tag}-{self._k}", "rule": rule,
                                     "device": f"{feed}-{int(rng.integers(1, 60)):03d}", "feed": feed,
                                     "department": dept, "severity": "major" if rng.random() < 0.3 else "warning",
                                     "location": {"lon": lon, "lat": lat}, "message": message})
                self.stats.alerts += 1
                true_cat = f"alert:{rule}"
            else:
                cats = list(CATEGORIES)
                true_cat = cats[int(rng.integers(0, len(cats)))]
                road = d.roads[int(rng.integers(0, len(d.roads)))]
                templates = CATEGORIES[true_cat][1]
                text = templates[int(rng.integers(0, len(templates)))].format(
                    road=road, road2=road, district=d.name, n=int(rng.integers(1, 400)))
                report = Report(description=text, channel="demo-hotline", source_ref=f"live-{self._tag}-{self._k}",
                                category=true_cat if rng.random() < 0.8 else None,
                                priority="urgent" if true_cat == "安全隐患" else "normal",
                                address=f"长沙市{d.name}{road}{int(rng.integers(1, 300))}号", lon=lon, lat=lat,
                                extra={"true_category": true_cat})
                case, _ = submit(report, SYSTEM, require_location=True)
                self.stats.reports += 1
        except UrbanBrainError as exc:  # e.g. a point that fell outside the city: the intake refused it
            log.info("live report refused: %s", exc)
            return
        if case["status"] == "dispatched":
            self.stats.auto_dispatched += 1
            self._schedule_accept(now, case["id"])
        else:
            self.stats.inbox += 1
            if rng.random() < 0.67:  # the rest waits in the inbox for a person at the console
                self._later(now, float(rng.exponential(20)) + 5, case["id"], f"dispatch:{true_cat}")

    def _schedule_accept(self, now: float, case_id: str) -> None:
        slow = self.rng.random() < 0.1  # one handler in ten misses the response limit
        self._later(now, float(self.rng.exponential(35)) + (75 if slow else 0), case_id, "accept")

    def _act(self, case_id: str, action: str, now: float) -> None:
        from urbanbrain.demo.cases import DISPATCHER, _category
        from urbanbrain.operate.cases import transition

        rng = self.rng
        try:
            if action.startswith("dispatch:"):
                cat = action.split(":", 1)[1]
                dept = self._owners.get(cat) or dict((f"alert:{r}", d) for r, d, _f, _m in ALERT_RULES).get(cat)
                if dept is None:
                    return
                transition(case_id, "dispatch", DISPATCHER, department=dept, category=cat)
                self._schedule_accept(now, case_id)
            elif action == "accept":
                if rng.random() < 0.08:
                    transition(case_id, "return", SYSTEM, reason="不属于本部门职责")
                    self.stats.returned += 1
                    self._later(now, float(rng.exponential(25)) + 5, case_id, f"dispatch:{_category(case_id)}")
                else:
                    transition(case_id, "accept", SYSTEM)
                    slow = rng.random() < 0.1
                    self._later(now, float(rng.exponential(360)) + 30 + (1440 if slow else 0), case_id, "feedback")
            elif action == "feedback":
                transition(case_id, "feedback", SYSTEM, note="已现场处置")
                self._later(now, float(rng.exponential(90)) + 10, case_id, "rate")
            elif action == "rate":
                transition(case_id, "rate", DISPATCHER,
                           satisfaction=int(rng.choice([5, 4, 3, 2], p=[0.6, 0.25, 0.1, 0.05])))
                transition(case_id, "close", DISPATCHER)
                self.stats.closed += 1
            self.stats.actions += 1
        except UrbanBrainError as exc:  # someone at the console acted first (stale, merged, ...): let it be
            log.info("live action %s on %s skipped: %s", action, case_id, exc)


def start_live_cases(*, speed: float = 60.0, per_day: int = 240, delay: float = 5.0) -> LiveLoop:
    """Start the loop `delay` seconds from now (after the console serves); `.stop()` ends it."""
    return LiveLoop(speed=speed, per_day=per_day).start(delay=delay)


def describe(loop: LiveLoop) -> dict[str, Any]:
    return {"speed": loop.speed, **loop.stats.__dict__}

