"""An optional writer process for the write-behind buffers (metering, audit) of a serving process.

Why: a gateway call leaves a usage row and a hash-chained audit entry behind. Written by a thread of the
serving process, that work (building rows, hashing the chain, driving SQLite) competes with the event
loop for the GIL: bench/gateway served 5,456 calls/s with both switched off and 3,589 with them on. With
`URBANBRAIN_WRITER_PROCESS=true` the buffers' flush threads instead hand each batch, pickled, to one
child process that does the database work and answers with the count written; the serving process
keeps only the appends and one pipe round trip per batch.

Nothing is lost in the hand-over: `run()` returns only after the child committed, and when it fails
(the child died, the store refused) the batch is written in process instead, or kept and retried by the
buffer. A batch is written twice only if the child dies between its commit and its answer. Jobs are
registered by name (`JOBS`), each a function `(metadata_url, batch) -> rows written` the child imports.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from urbanbrain.core.errors import WriterError

log = logging.getLogger(__name__)

Job = Callable[[str, list[Any]], int]
JOBS: dict[str, str] = {  # name -> "module:function", imported in the child
    "usage": "urbanbrain.capability.metering:write_calls",
    "audit": "urbanbrain.govern.audit:write_entries",
}


def _job(name: str) -> Job:
    module, func = JOBS[name].split(":")
    fn: Job = getattr(__import__(module, fromlist=[func]), func)
    return fn


def _serve(conn: Connection) -> None:
    """The child: run jobs until told to stop or the parent goes away."""
    with contextlib.suppress(OSError):
        os.nice(10)  # background writing yields the CPU to the serving process on a busy machine
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        name, url, batch = message
        try:
            conn.send((True, _job(name)(url, batch)))
        except Exception as exc:  # report, keep serving: the parent retries the batch
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class WriterProcess:
    """One child per serving process, started on first use; calls are serialised over one pipe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._proc: Any = None
        self._pid = os.getpid()

    def _ensure(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.poll() is None \
                and self._pid == os.getpid():
            return self._conn
        self._reset()  # a child that died: close its end and reap it before starting another
        # A plain `python -m` child over a socket pair, not multiprocessing's spawn: spawn re-runs the
        # parent's main module in the child, which fails for `python - < script` and surprises embedders.
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "urbanbrain.meta.writer", str(theirs.fileno())],
                                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._conn, self._proc, self._pid = Connection(ours.detach()), proc, os.getpid()
        return self._conn

    def run(self, name: str, url: str, batch: list[Any]) -> int:
        """Write `batch` with job `name` in the child; returns rows written, or raises WriterError."""
        with self._lock:
            try:
                conn = self._ensure()
                conn.send((name, url, batch))
                ok, result = conn.recv()
            except (EOFError, OSError, ValueError) as exc:
                self._reset()
                raise WriterError(f"the writer process stopped: {exc}",
                                  hint="the batch is kept and retried; see the server log") from None
        if not ok:
            raise WriterError(f"the writer process could not write a {name} batch: {result}")
        return int(result)

    def _reset(self) -> None:
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._proc is not None:
                with contextlib.suppress(Exception):
                    self._conn.send(None)
                    self._proc.wait(timeout=10)
            self._reset()


_WRITER = WriterProcess()


def writer() -> WriterProcess:
    return _WRITER


def write(name: str, url: str, batch: list[Any], *, in_process: Job) -> int:
    """Write a batch in the writer process when configured (falling back to `in_process` if it cannot
    start), else in this process."""
    from urbanbrain.core.settings import get_settings

    if not get_settings().writer_process:
        return in_process(url, batch)
    try:
        return _WRITER.run(name, url, batch)
    except WriterError as exc:
        log.warning("%s; writing the batch in process", exc.message)
        return in_process(url, batch)


atexit.register(_WRITER.close)  # after the buffers' own atexit flushes, which were registered later


if __name__ == "__main__":  # the child: `python -m urbanbrain.meta.writer FD`
    _serve(Connection(int(sys.argv[1])))
