"""The `ray` execution backend: functions run as Ray tasks on the nodes of a Ray cluster.

`URBANBRAIN_ENGINE=ray://head:10001` connects through the Ray client (the `ray[client]` extra);
`ray://auto` joins the cluster this machine is a node of (`ray start` ran here), or the one
`RAY_ADDRESS` names (`ray://auto` with `RAY_ADDRESS=10.0.0.5:6379`). Ray is imported only here, and
only when this backend is chosen (`pip install 'urbanbrain[cluster]'`).

Every node runs the same installed urbanbrain; the driver forwards its `URBANBRAIN_*` settings to the
tasks (Ray's runtime environment), so a node needs no configuration beyond `ray start`. That includes
the metadata URL and the secret key: the Ray cluster is inside the platform's trust boundary.

A task whose node (or worker process) dies is retried by Ray on another node (`max_retries`); the work
must be safe to re-run, as a sync is (data and cursor commit together, a retry resumes from the
committed cursor). Errors the function raises are not retried by Ray: the function decides that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from urbanbrain.core.errors import ConfigurationError, DependencyUnavailableError

T = TypeVar("T")
NODE_RETRIES = 3
# The Ray client's head starts a server process per connecting driver; on a loaded head that start can
# fail ("Initialization failure from server") although the cluster is fine, and a new try gets a new one.
CONNECT_TRIES = 3


def _server_side_start_failure(exc: ConnectionError) -> bool:
    """The head answered but could not start this driver's client server: worth another try. A head that
    does not answer at all is not (each try would wait out Ray's 30 s connection timeout again)."""
    return "Initialization failure from server" in str(exc)


def _forget_connection(ray: Any) -> None:
    """Undo what a failed `ray.init` left behind. A failed `ray://` connect leaves Ray's client mode
    switched on, and every later Ray call in the process (another backend, `ray://auto`) would then be
    sent to the client that never connected."""
    with contextlib.suppress(Exception):
        ray.shutdown()


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """What a Ray task runs: the function, by reference (it is imported on the node)."""
    return fn(*args)


def forwarded_env() -> dict[str, str]:
    """The driver's urbanbrain settings, for the tasks' environment."""
    return {k: v for k, v in os.environ.items() if k.startswith("URBANBRAIN_")}


def run_all_tasks(fn: Callable[..., T], calls: list[tuple[Any, ...]]) -> list[T]:
    """From inside a Ray task (or a connected driver): one task per call, waited for with `ray.get`,
    which lends the waiting task's CPU to the ones it waits for (no deadlock when every CPU of the
    cluster is held by a waiting parent). A part whose node dies is re-run elsewhere like any task."""
    import ray

    remote = ray.remote(num_cpus=1, max_retries=NODE_RETRIES, retry_exceptions=False)(_call)
    refs = [remote.remote(fn, *args) for args in calls]
    results: list[T] = ray.get(refs)
    return results


class RayBackend:
    """Ray tasks; `capacity()` is the cluster's CPUs (one sync is one CPU's worth of work)."""

    name = "ray"
    local = False

    def __init__(self, address: str, concurrency: int = 0) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigurationError("the ray engine needs Ray installed",
                                     hint="pip install 'urbanbrain[cluster]'") from None
        self._ray = ray
        if address == "auto":
            target = os.environ.get("RAY_ADDRESS") or "auto"
        else:
            target = "ray://" + (address if ":" in address else f"{address}:10001")
        extra: dict[str, Any] = {}
        if os.environ.get("URBANBRAIN_RAY_NODE_IP"):  # this machine's address in the cluster, if not the default
            extra["_node_ip_address"] = os.environ["URBANBRAIN_RAY_NODE_IP"]
        for attempt in range(1, CONNECT_TRIES + 1):
            try:
                ray.init(address=target, ignore_reinit_error=True, log_to_driver=False,
                         logging_level=logging.WARNING, runtime_env={"env_vars": forwarded_env()}, **extra)
                break
            except ConnectionError as exc:
                _forget_connection(ray)
                if attempt < CONNECT_TRIES and _server_side_start_failure(exc):
                    time.sleep(2 * attempt)
                    continue
                raise DependencyUnavailableError(
                    f"cannot reach the Ray cluster at {target}: {exc}",
                    hint="start it (`ray start --head`) or fix URBANBRAIN_ENGINE") from None
            except BaseException:
                _forget_connection(ray)
                raise
        self._remote = ray.remote(num_cpus=1, max_retries=NODE_RETRIES, retry_exceptions=False)(_call)
        self._concurrency = concurrency

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        ref = self._remote.remote(fn, *args)
        future: Future[T] = ref.future()
        return future

    def capacity(self) -> int:
        if self._concurrency:
            return self._concurrency
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        self._ray.shutdown()
