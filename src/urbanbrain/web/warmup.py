"""Warm-up: what the first request after a server start would otherwise pay, done in the background.

Why: the first load of the operations-centre wall (`/ioc`) after `urbanbrain serve` or `urbanbrain demo`
took 1.0-2.2 s against 0.3-1.1 s warm, all first-use costs: lazy imports (DuckDB, pyiceberg, the query
path), Jinja compiling the templates, the simplified district boundaries, SQLAlchemy compiling the tiles'
queries, and the facilities' address positions (geocoding them against the address registry: 3.6 s first,
0.34 s cached). The server's start stays lazy (`urbanbrain --help` and readiness are not delayed): the app's
lifespan starts one daemon thread, which waits a moment for uvicorn to begin listening, then takes these
steps one by one, pausing between them so requests arriving meanwhile get the GIL.

Only what does not depend on the viewer is primed: modules, templates and catalogs, boundaries (public
reference data), the indicator tiles (published aggregates every signed-in user sees), the code path of a
snapshot (one computed as `SYSTEM` and thrown away: compiled queries, loaded modules), and the address
registry's positions (`operate.ioc_facilities.prime_geocodes`: address text -> position, the same answer
for every viewer). Nothing a viewer reads through governance is cached here: each request still reads the
facilities, cases, alerts and sensors as its viewer, so a viewer who may not read a facility's row gets no
position for it, warm or not. A step that fails is logged and skipped; the wall then pays it on first use,
as before. `URBANBRAIN_WARMUP=false` turns it off (the tests do, except those about it).
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

START_DELAY = 0.2  # seconds: uvicorn binds its socket right after the lifespan starts; let it go first
PAUSE = 0.01  # seconds between steps: requests arriving during the warm-up take the GIL here

# What `/ioc`, `/api/ioc/snapshot`, `/api/ioc/facilities`, `/api/ioc/events` and `/api/geo/districts`
# import on first use, heaviest first (DuckDB and pyiceberg come with the lake modules).
MODULES = (
    "urbanbrain.lake.engine",
    "urbanbrain.lake.datasets",
    "urbanbrain.govern.query",
    "urbanbrain.operate.ioc",
    "urbanbrain.operate.ioc_facilities",
    "urbanbrain.operate.ioc_geocode",
    "urbanbrain.capability.builtins.address",
    "urbanbrain.capability.builtins._lake",
    "urbanbrain.operate.cases",
    "urbanbrain.operate.stats",
    "urbanbrain.stream.service",
    "urbanbrain.stream.alerts",
    "urbanbrain.meta.departments",
    "urbanbrain.reference.boundaries",
    "urbanbrain.core.bus",
)
TEMPLATES = ("ioc.html", "base.html", "login.html", "macros.html")

_lock = threading.Lock()
_thread: threading.Thread | None = None
_frozen = False
done = threading.Event()  # set when a warm-up finished (tests and the bench wait on it)
report: dict[str, float | str] = {}  # step -> seconds taken, or "failed: ..." (the log says the same)


def _imports() -> None:
    for name in MODULES:
        importlib.import_module(name)
        time.sleep(PAUSE)  # an import holds the GIL throughout: one module at a time


def _templates() -> None:
    from urbanbrain.web.console.render import templates
    from urbanbrain.web.i18n import LANGUAGES, catalog

    for name in TEMPLATES:
        templates.env.get_template(name)
    for lang in LANGUAGES:
        catalog(lang)


def _boundaries() -> None:
    from urbanbrain.core.settings import get_settings
    from urbanbrain.web.api.geo import _body

    _body(get_settings().city_code, "wall")


def _tiles() -> None:
    """The indicator tiles of the default screen: published aggregates (no viewer), read from the metadata
    database; primes the connection pool and SQLAlchemy's compiled statements."""
    from urbanbrain.operate.ioc import get_screen, tiles

    tiles(get_screen())


def _snapshot() -> None:
    """One snapshot of the default screen without the facilities, as `SYSTEM`, thrown away: the code path of
    the wall's first paint (the alerts, sensors, cases and ranking queries compiled, their modules and the
    policy code loaded). Nothing of it is kept: every viewer's snapshot is read as that viewer."""
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.ioc import snapshot

    snapshot(SYSTEM, with_facilities=False)


def _geocodes() -> None:
    from urbanbrain.operate.ioc_facilities import prime_geocodes

    prime_geocodes()


STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("imports", _imports), ("templates", _templates), ("boundaries", _boundaries), ("tiles", _tiles),
    ("snapshot", _snapshot), ("geocodes", _geocodes),
)


def warm_up() -> dict[str, float | str]:
    """Every step, in order, each timed; a failing step is logged and the next one runs."""
    global _frozen
    for name, step in STEPS:
        t0 = time.perf_counter()
        try:
            step()
            report[name] = round(time.perf_counter() - t0, 3)
        except Exception as exc:  # a warm-up never breaks serving: the first request pays instead
            report[name] = f"failed: {type(exc).__name__}: {exc}"
            log.warning("warm-up step %s failed: %s", name, exc)
        time.sleep(PAUSE)
    with _lock:
        if not _frozen:  # what the warm-up loaded joins the start-up objects the collector skips (web.app)
            _frozen = True
            gc.freeze()
    log.info("warm-up done: %s", report)
    return report


def start_warmup(delay: float = START_DELAY) -> threading.Thread | None:
    """Start the warm-up thread once per process (None when one already ran or runs)."""
    global _thread
    with _lock:
        if _thread is not None:
            return None

        def run() -> None:
            time.sleep(delay)
            try:
                warm_up()
            finally:
                done.set()

        _thread = threading.Thread(target=run, name="ub-warmup", daemon=True)
        _thread.start()
        return _thread


def started() -> bool:
    """Whether this process started a warm-up (since the last `reset`)."""
    return _thread is not None


def reset() -> None:
    """Forget that a warm-up ran (tests: the next app starts a new one)."""
    global _thread
    with _lock:
        _thread = None
        done.clear()
        report.clear()
