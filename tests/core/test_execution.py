"""Execution backends come from the `urbanbrain.engines` registry, chosen by URBANBRAIN_ENGINE."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from urbanbrain.core.errors import ConfigurationError
from urbanbrain.core.execution import ENGINES, InProcess, get_backend, parse_engine
from urbanbrain.core.settings import reset_settings


def test_engine_urls() -> None:
    assert parse_engine("inprocess") == ("inprocess", "")
    assert parse_engine("ray://head:10001") == ("ray", "head:10001")
    assert parse_engine("RAY://auto") == ("ray", "auto")
    with pytest.raises(ConfigurationError, match="names no address"):
        parse_engine("ray://")


def test_both_backends_are_registered_and_unknown_ones_are_named() -> None:
    assert {"inprocess", "ray"} <= set(ENGINES.names())
    with pytest.raises(ConfigurationError, match="unknown execution backend 'dask'") as raised:
        get_backend("dask://x")
    assert "inprocess" in (raised.value.hint or "")


def test_inprocess_runs_functions_on_its_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_ENGINE", "inprocess")
    monkeypatch.setenv("URBANBRAIN_WORKER_CONCURRENCY", "3")
    reset_settings()
    backend = get_backend()
    try:
        assert isinstance(backend, InProcess) and backend.local and backend.capacity() == 3
        names = [backend.submit(lambda: threading.current_thread().name).result() for _ in range(2)]
        assert all(n.startswith("ub-work") for n in names)
        assert get_backend(concurrency=5).capacity() == 5
    finally:
        backend.close()


def test_a_killed_unreaped_process_counts_as_gone() -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from urbanbrain.core.process import alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert alive(child.pid) and alive(os.getpid())
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(child.pid) and time.monotonic() < deadline:  # a zombie until we wait for it
        time.sleep(0.02)
    assert not alive(child.pid)
    child.wait()


def test_a_ray_cluster_that_does_not_answer_is_named_and_leaves_no_client_mode_behind() -> None:
    """A failed `ray://` connect used to leave Ray's client mode on: every later Ray call in the process
    (a second backend, `ray://auto` after the head came back) went to the client that never connected
    and failed strangely (CI saw `internal_kv` assertions in the next test). In a child process, so the
    Ray state under test is its own; Ray's connect timeouts are shortened there by its own settings."""
    pytest.importorskip("ray")
    code = textwrap.dedent("""
        import socket
        from urbanbrain.core.errors import DependencyUnavailableError
        from urbanbrain.core.ray_backend import RayBackend
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        try:
            RayBackend(f"127.0.0.1:{port}")
        except DependencyUnavailableError as exc:
            print("refused:", str(exc).splitlines()[0])
        import ray
        from ray._private import client_mode_hook
        print("client mode:", client_mode_hook.is_client_mode_enabled, "initialized:", ray.is_initialized())
    """)
    env = {**os.environ, "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1",
           "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert "refused: cannot reach the Ray cluster at ray://127.0.0.1:" in done.stdout, done.stdout + done.stderr
    assert "client mode: False initialized: False" in done.stdout, done.stdout + done.stderr
