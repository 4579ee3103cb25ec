"""Execution backends come from the `urbanbrain.engines` registry, chosen by URBANBRAIN_ENGINE."""

from __future__ import annotations

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
