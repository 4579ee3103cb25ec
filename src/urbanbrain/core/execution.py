"""Where work runs: the execution backend protocol and its registry (`URBANBRAIN_ENGINE`).

A backend runs a module-level function with picklable arguments somewhere and hands back a
`concurrent.futures.Future`. Two ship with urbanbrain, registered under the `urbanbrain.engines`
entry point like connectors and feeds:

* `inprocess` (the default): a thread pool in this process, what the worker always did;
* `ray`: Ray tasks across the nodes of a Ray cluster (`ray://host:10001` through the Ray client, or
  `ray://auto` for the cluster this machine is a node of, honouring `RAY_ADDRESS`); see
  `core/ray_backend.py` and docs/scale.md ("Running on N machines").

The work itself stays what it was (a sync commits its data and cursor in one Iceberg commit, so a
task retried after a lost node starts again from the committed cursor): a backend only decides where.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from urbanbrain.core.errors import ConfigurationError
from urbanbrain.core.registry import Registry

T = TypeVar("T")


class Backend(Protocol):
    """Runs functions somewhere; `local` says whether they run in this process (shared memory, events)."""

    name: str
    local: bool

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)`; `fn` must be importable by name where it runs (a module-level function)."""
        ...

    def capacity(self) -> int:
        """How many functions are worth running at once (threads here, CPUs of the cluster for Ray);
        a backend built with a concurrency (`--concurrency`) keeps to it."""
        ...

    def close(self) -> None: ...


BackendFactory = Callable[[str, int], Backend]  # (address after the scheme, concurrency or 0) -> backend
ENGINES: Registry[BackendFactory] = Registry("urbanbrain.engines", "execution backend")


class InProcess:
    """Threads of this process: today's behaviour, and what a single machine needs."""

    name = "inprocess"
    local = True

    def __init__(self, address: str = "", concurrency: int = 0) -> None:
        from urbanbrain.core.settings import get_settings

        self._concurrency = max(1, concurrency or get_settings().worker_concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="ub-work")

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

    def capacity(self) -> int:
        return self._concurrency

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def run_all(fn: Callable[..., T], calls: list[tuple[Any, ...]], *, threads: int = 0) -> list[T]:
    """`[fn(*args) for args in calls]`, run at once where this process's work runs: as Ray tasks when
    this process is part of a Ray cluster (a sync that a Ray worker runs splits its large object into
    tasks spread over the nodes), on the configured engine's backend when it is not in-process (a CLI
    command run with `URBANBRAIN_ENGINE=ray://...`), else on up to `threads` threads here (default:
    worker concurrency).
    Results come back in the order of `calls`; the first error is raised after all have finished."""
    import sys

    from urbanbrain.core.settings import get_settings

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        from urbanbrain.core.ray_backend import run_all_tasks

        return run_all_tasks(fn, calls)
    if parse_engine(get_settings().engine)[0] != "inprocess":  # a CLI command with URBANBRAIN_ENGINE=ray://...
        backend = get_backend()
        try:
            submitted = [backend.submit(fn, *args) for args in calls]
            wait(submitted)
            return [f.result() for f in submitted]
        finally:
            backend.close()
    workers = max(1, min(len(calls), threads or get_settings().worker_concurrency))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ub-part") as pool:
        futures = [pool.submit(fn, *args) for args in calls]
        wait(futures)
    return [f.result() for f in futures]


def parse_engine(url: str) -> tuple[str, str]:
    """`inprocess` -> ("inprocess", ""); `ray://head:10001` -> ("ray", "head:10001")."""
    url = (url or "inprocess").strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.lower(), ""
    if not rest:
        raise ConfigurationError(f"the engine {url!r} names no address",
                                 hint="write ray://HOST:PORT (the Ray client port, 10001 by default) or ray://auto")
    return scheme.lower(), rest


def get_backend(url: str | None = None, *, concurrency: int | None = None) -> Backend:
    """The backend `url` (default: settings' `engine`) names, connected and ready to take work."""
    from urbanbrain.core.settings import get_settings

    settings = get_settings()
    kind, address = parse_engine(url or settings.engine)
    factory = ENGINES.get(kind)
    return factory(address, concurrency or 0)
