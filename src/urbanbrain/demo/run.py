"""`run_demo`: generate the city, register it through the service functions, sync it, summarise.

Everything a user could do by hand goes through the same service functions the CLI and API call
(`add_department`, `add_system`, `discover_system`, `configure_object`, `run_sync`): the demo is the
first integration test of the platform, not a side door into its metadata.

State lives in `URBANBRAIN_HOME/demo/state.json` (seed, scale, clock, API token, systems built).
A second run reuses it: nothing is regenerated unless `fresh`, or unless `systems` asks for more
branch systems than exist, in which case only the new systems' data is written (generation is
deterministic, so the truth files are rewritten identically plus the new links).

>>> summary = run_demo(scale="tiny", progress=RichDemoProgress())   # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import json
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from urbanbrain.connect.guards import allow_demo_hosts
from urbanbrain.connect.systems import (
    add_system,
    configure_object,
    discover_system,
    get_system,
    list_objects,
    system_options,
    update_system,
)
from urbanbrain.core.errors import NotFoundError, UrbanBrainError
from urbanbrain.core.settings import get_settings
from urbanbrain.demo import build as builder
from urbanbrain.demo.capabilities import publish_city_capabilities
from urbanbrain.demo.departments import DEPARTMENTS, SystemSpec, base_systems, branches
from urbanbrain.demo.progress import DemoProgress, NoDemoProgress
from urbanbrain.demo.sharing import seed_sharing_requests
from urbanbrain.demo.simulator import Simulator, SimulatorConfig, rest_options
from urbanbrain.demo.users import DemoUser, create_demo_users
from urbanbrain.meta.departments import add_department, list_departments
from urbanbrain.meta.schemas import SyncRunPublic
from urbanbrain.sync.service import sync_system

DEFAULT_SEED = 20_240_601


@dataclass
class DemoSummary:
    """What `run_demo` did, for the CLI to print and tests to check."""

    scale: str
    seed: int
    home: Path
    departments: int
    systems: int
    kinds: dict[str, int]
    generated: bool
    rows_generated: int
    rows_synced: int
    truth_links: dict[str, int]
    runs: dict[str, str] = field(default_factory=dict)  # system -> run status
    failures: dict[str, str] = field(default_factory=dict)  # system -> error
    seconds: dict[str, float] = field(default_factory=dict)
    capabilities: int = 0
    capability_grants: int = 0
    users: list[DemoUser] = field(default_factory=list)  # with their demo passwords, printed by the CLI
    entities: dict[str, int] = field(default_factory=dict)  # base registry kind -> entities (when linked)
    sharing_requests: dict[str, int] = field(default_factory=dict)  # status -> requests seeded between departments
    indicators: dict[str, int] = field(default_factory=dict)  # light (ok, warn, alarm, unknown, error) -> indicators

    @property
    def ok(self) -> bool:
        return not self.failures


def demo_dir() -> Path:
    return get_settings().home_dir / "demo"


def _load_state() -> dict[str, Any]:
    path = demo_dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(state: dict[str, Any]) -> None:
    demo_dir().mkdir(parents=True, exist_ok=True)
    (demo_dir() / "state.json").write_text(json.dumps(state, indent=1, ensure_ascii=False))


def catalogue(systems: int | None) -> list[SystemSpec]:
    """The base systems plus enough district branches to reach `systems`."""
    return base_systems() + branches(systems or 0)


def _simulator(state: dict[str, Any], specs: list[SystemSpec], port: int = 0) -> Simulator:
    config = SimulatorConfig([s for s in specs if s.connector == "rest"], demo_dir() / "api", int(state["seed"]),
                             np.datetime64(state["start"]), str(state["token"]), port=port)
    return Simulator(config).start()


def _point_rest_systems(sim: Simulator, specs: list[SystemSpec]) -> None:
    """REST systems are registered against the simulator's address; it may differ between runs."""
    for spec in specs:
        if spec.connector != "rest":
            continue
        wanted = rest_options(spec, sim.url, sim.config.token)
        try:
            _, current = system_options(spec.name)
        except NotFoundError:
            continue
        if current != wanted:
            update_system(spec.name, options=wanted)


def _register(placements: list[builder.Placement], sim: Simulator, progress: DemoProgress) -> None:
    progress.phase("register", len(placements))
    allow_demo_hosts(["127.0.0.1"])  # its own PostgreSQL, MariaDB and REST simulator (connect/guards.py)
    known_depts = {d.code for d in list_departments()}
    for dept in DEPARTMENTS:
        if dept.code not in known_depts:
            add_department(dept.name, dept.code)

    def one(p: builder.Placement) -> str:
        options = rest_options(p.spec, sim.url, sim.config.token) if p.connector == "rest" else p.options
        try:
            get_system(p.spec.name)
            update_system(p.spec.name, options=options)
        except NotFoundError:
            add_system(p.spec.name, p.spec.dept, p.connector, options, schedule=p.spec.schedule,
                       owner=next(d.name for d in DEPARTMENTS if d.code == p.spec.dept), description=p.spec.title)
        discover_system(p.spec.name)
        names = {o.name for o in list_objects(p.spec.name)}
        for obj in p.spec.objects:
            lake_obj = p.objects[obj.name]
            if obj.cursor and lake_obj in names:
                configure_object(p.spec.name, lake_obj, cursor_column=obj.cursor)
        return p.spec.name

    # discovery mostly waits on the systems (databases, files, the REST simulator): a few at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        for name in pool.map(lambda p: contextvars.copy_context().run(one, p), placements):
            progress.advance("register", 1, name)


def _sync_all(names: list[str], full_refresh: bool, progress: DemoProgress, workers: int) -> dict[str, SyncRunPublic]:
    progress.phase("sync", len(names))
    results: dict[str, SyncRunPublic] = {}

    def one(name: str) -> tuple[str, SyncRunPublic]:
        return name, sync_system(name, trigger="demo", full_refresh=full_refresh, progress=progress.sync_progress(name))

    # The first sync of a department creates its lake namespace; two at once race on it (reported
    # upstream), so one system per department goes first, alone, and the rest run in parallel.
    first: dict[str, str] = {}
    for spec in catalogue(len(names)):
        if spec.name in names:
            first.setdefault(spec.dept, spec.name)
    leaders = list(first.values())
    rest = [n for n in names if n not in set(leaders)]
    for name in leaders:
        results[name] = one(name)[1]
        progress.system_synced(name, results[name])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, run in pool.map(one, rest):
            results[name] = run
            progress.system_synced(name, run)
    return results


def link_registries(progress: DemoProgress | None = None) -> tuple[dict[str, int], dict[str, str]]:
    """Build (or update, incrementally) the base registries of people, organisations and addresses.

    `urbanbrain demo` calls it in a background thread once the console serves (it took half the time to
    ready); `run_demo(link=True)` calls it inline. Returns (entities per kind, failures)."""
    from urbanbrain.link.mapping import KINDS
    from urbanbrain.link.run import run_link

    progress = progress or NoDemoProgress()
    progress.phase("link", len(KINDS))
    entities: dict[str, int] = {}
    failures: dict[str, str] = {}
    for kind in KINDS:
        try:
            done = run_link(kind)
        except UrbanBrainError as exc:  # the city still serves; the failure is reported, not hidden
            failures[f"link {kind}"] = str(exc)
            progress.advance("link", 1, f"{kind}: failed")
            continue
        entities[kind] = done.entities
        progress.advance("link", 1, f"{kind}: {done.entities:,} entities from {done.records:,} records")
    return entities, failures


def compute_city_indicators() -> dict[str, int]:
    """Define the city's vital signs (`demo.indicator_catalogue`) and compute them all once, so the
    operations-centre screen has values from the first minute; returns indicators per light."""
    from urbanbrain.demo.indicator_catalogue import define_city_indicators
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.indicator_capability import publish_indicator_capabilities
    from urbanbrain.operate.indicator_compute import compute_all
    from urbanbrain.operate.indicator_publish import publish_indicators

    define_city_indicators()
    publish_indicator_capabilities(SYSTEM)  # each owner releases its value and history through the gateway
    lights: dict[str, int] = {}
    for result in compute_all():
        light = "error" if result.get("error") else str(result.get("state") or "unknown")
        lights[light] = lights.get(light, 0) + 1
    publish_indicators(SYSTEM)  # the time series in the lake: trends are SQL from the first minute
    return lights


def run_demo(scale: str = "small", systems: int | None = None, fresh: bool = False,
             progress: DemoProgress | None = None, seed: int = DEFAULT_SEED, port: int = 0,
             link: bool = False) -> DemoSummary:
    """Build (or reuse) the demo city, register and sync every system, and return a summary.

    `link` also builds the base registries (`urbanbrain.link`); the CLI does so except at `large`."""
    if scale not in builder.SCALES:
        raise UrbanBrainError(f"unknown demo scale {scale!r}", hint=f"use one of {', '.join(builder.SCALES)}")
    progress = progress or NoDemoProgress()
    timings: dict[str, float] = {}
    state = _load_state()
    specs = catalogue(systems)
    rebuild = fresh or not state or state.get("scale") != scale or int(state.get("seed", seed)) != seed
    if rebuild:
        if demo_dir().exists():
            shutil.rmtree(demo_dir())
        now = np.datetime64("now", "m").astype("datetime64[s]")
        start = (now - np.timedelta64(builder.SCALES[scale].sensor_days, "D")).astype("datetime64[D]")
        state = {"scale": scale, "seed": seed, "now": str(now), "start": str(start.astype("datetime64[s]")),
                 "token": secrets.token_urlsafe(24), "systems": []}
    built = set(state["systems"])
    to_write = [s for s in specs if s.name not in built]
    all_specs = catalogue(max(len(built), len(specs)))  # a city only grows: earlier branches stay synced
    names = [s.name for s in all_specs]
    placed = {n: builder.Placement(next(s for s in all_specs if s.name == n), v["connector"], v["options"],
                                   v["objects"]) for n, v in state.get("placements", {}).items()}
    t0 = time.monotonic()
    rows_generated = 0
    truth: dict[str, int] = state.get("truth", {})
    if to_write:
        progress.phase("generate", None)

        def step(label: str, rows: int) -> None:
            progress.advance("generate", rows, label)

        result = builder.build(all_specs, demo_dir(), builder.SCALES[scale], seed, np.datetime64(state["now"]),
                               on_step=step, write={s.name for s in to_write}, placed=placed)
        placements = result.placements
        state["placements"] = {p.spec.name: {"connector": p.connector, "options": p.options, "objects": p.objects}
                               for p in placements}
        rows_generated = sum(p.rows for p in placements)
        truth = result.truth_counts
    else:
        placements = list(placed.values())
    timings["generate"] = time.monotonic() - t0
    sim = _simulator(state, all_specs, port)
    try:
        t0 = time.monotonic()
        _register(placements, sim, progress)
        state["systems"] = sorted(built | set(names))
        state["truth"] = truth
        _save_state(state)
        timings["register"] = time.monotonic() - t0
        t0 = time.monotonic()
        runs = _sync_all(names, full_refresh=rebuild, progress=progress,
                         workers=max(1, get_settings().worker_concurrency))
        timings["sync"] = time.monotonic() - t0
        t0 = time.monotonic()
        progress.phase("publish", None)
        # the users' password hashes (Argon2, deliberately slow, GIL released) and the sharing requests
        # need nothing of the catalog: they run beside it
        with ThreadPoolExecutor(max_workers=1) as beside:
            people = beside.submit(contextvars.copy_context().run,
                                   lambda: (create_demo_users(), seed_sharing_requests()))
            published = publish_city_capabilities(on_step=lambda label: progress.advance("publish", 1, label))
            demo_users, sharing_requests = people.result()
        timings["publish"] = time.monotonic() - t0
    finally:
        sim.stop()
    t0 = time.monotonic()
    indicators = compute_city_indicators()
    timings["indicators"] = time.monotonic() - t0
    entities: dict[str, int] = {}
    link_failures: dict[str, str] = {}
    if link:
        t0 = time.monotonic()
        entities, link_failures = link_registries(progress)
        timings["link"] = time.monotonic() - t0
    kinds: dict[str, int] = {}
    for p in placements:
        if p.spec.name in names:
            kinds[p.connector] = kinds.get(p.connector, 0) + 1
    return DemoSummary(
        scale=scale, seed=seed, home=get_settings().home_dir, departments=len(DEPARTMENTS), systems=len(names),
        kinds=kinds, generated=bool(to_write), rows_generated=rows_generated,
        rows_synced=sum(r.rows_written for r in runs.values()), truth_links=truth,
        runs={n: r.status for n, r in runs.items()},
        failures={**{n: r.error or r.status for n, r in runs.items() if not _ok(r.status)}, **link_failures},
        seconds=timings, capabilities=published.published, capability_grants=published.grants, users=demo_users,
        entities=entities, sharing_requests=sharing_requests, indicators=indicators)


class LiveFeeds:
    """Handle on the running simulator: `.url`, `.stop()`."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self.url = sim.url
        self.seed = sim.config.seed  # the live sensors (demo.livecity) publish from the same city

    def stop(self) -> None:
        self._sim.stop()


def start_live_feeds(port: int = 0) -> LiveFeeds:
    """Serve the REST systems and live sensor feeds in a background thread until `.stop()`.

    Run after `run_demo`; REST systems are re-pointed at this server's address if it changed, so a
    worker syncing the sensor systems "every 1m" picks up each minute's new readings.
    """
    state = _load_state()
    if not state:
        raise NotFoundError("there is no demo city to serve yet", hint="run `urbanbrain demo` first")
    specs = [s for s in catalogue(len(state["systems"])) if s.name in set(state["systems"])]
    sim = _simulator(state, specs, port)
    _point_rest_systems(sim, specs)
    return LiveFeeds(sim)


def _ok(status: str) -> bool:
    return status in ("succeeded", "succeeded_with_rejects")
