"""How `run_demo` reports progress: phases (generate, register, sync) and per-system sync results.

The CLI passes `RichDemoProgress` to draw bars on a terminal and `PlainDemoProgress` (one line per step)
when its output goes to a file or a pipe; tests and scripts pass nothing (`NoDemoProgress`).
Sync progress per object is forwarded through the runner's own `SyncProgress` protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from urbanbrain.meta.schemas import SyncRunObjectPublic, SyncRunPublic
from urbanbrain.sync.progress import NoProgress, SyncProgress


class DemoProgress(Protocol):
    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, name: str, amount: int, detail: str) -> None: ...

    def sync_progress(self, system: str) -> SyncProgress: ...

    def system_synced(self, system: str, run: SyncRunPublic) -> None: ...


class NoDemoProgress:
    def phase(self, name: str, total: int | None) -> None:
        return None

    def advance(self, name: str, amount: int, detail: str) -> None:
        return None

    def sync_progress(self, system: str) -> SyncProgress:
        return NoProgress()

    def system_synced(self, system: str, run: SyncRunPublic) -> None:
        return None


class _RowCounter:
    """Forwards object-level sync progress into the demo's 'rows synced' bar."""

    def __init__(self, owner: RichDemoProgress) -> None:
        self.owner = owner

    def object_started(self, name: str, estimate: int | None) -> None:
        return None

    def object_advanced(self, name: str, rows: int) -> None:
        self.owner.rows(rows)

    def object_finished(self, name: str, outcome: SyncRunObjectPublic) -> None:
        return None


class RichDemoProgress:
    """Rich bars: rows generated, systems registered, systems synced (with rows synced)."""

    LABELS: ClassVar[dict[str, str]] = {"generate": "生成 generate rows", "register": "登记 register systems",
                                        "sync": "汇聚 sync systems",
                                        "publish": "赋能 publish capabilities",
                                        "link": "一人一档 link registries"}

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console)
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()
        self.synced_rows = 0
        self.failed = 0

    def __enter__(self) -> RichDemoProgress:
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def phase(self, name: str, total: int | None) -> None:
        with self.lock:
            for task in self.tasks.values():  # a new phase ends the previous one (stops its clock)
                done = self.progress.tasks[task].completed
                self.progress.update(task, total=done, completed=done)
            self.tasks[name] = self.progress.add_task(self.LABELS.get(name, name), total=total, detail="")

    def advance(self, name: str, amount: int, detail: str) -> None:
        with self.lock:
            self.progress.update(self.tasks[name], advance=amount, detail=detail[:40])

    def rows(self, amount: int) -> None:
        with self.lock:
            self.synced_rows += amount

    def sync_progress(self, system: str) -> SyncProgress:
        return _RowCounter(self)

    def system_synced(self, system: str, run: SyncRunPublic) -> None:
        with self.lock:
            self.failed += run.status not in ("succeeded", "succeeded_with_rejects")
            detail = f"{self.synced_rows:,} rows" + (f", {self.failed} failed" if self.failed else "")
            self.progress.update(self.tasks["sync"], advance=1, detail=detail)


class PlainDemoProgress:
    """One line per step, for logs and pipes (no terminal, so no bars): what a CI log or `make demo | tee` shows."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or _print_flush
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int | None] = {}
        self.synced_rows = 0
        self.started = time.monotonic()

    def __enter__(self) -> PlainDemoProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def _line(self, text: str) -> None:
        self.write(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def phase(self, name: str, total: int | None) -> None:
        with self.lock:
            self.counts[name], self.totals[name] = 0, total
            label = RichDemoProgress.LABELS.get(name, name)
            self._line(f"{label}" + (f": {total}" if total is not None else "") + " ...")

    def advance(self, name: str, amount: int, detail: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + amount
            total = self.totals.get(name)
            count = f"{self.counts[name]}/{total}" if total is not None else f"{self.counts[name]:,}"
            self._line(f"  {name} {count}  {detail}")

    def rows(self, amount: int) -> None:
        with self.lock:
            self.synced_rows += amount

    def sync_progress(self, system: str) -> SyncProgress:
        return _RowCounter(self)  # type: ignore[arg-type]  # only calls rows()

    def system_synced(self, system: str, run: SyncRunPublic) -> None:
        with self.lock:
            self.counts["sync"] = self.counts.get("sync", 0) + 1
            total = self.totals.get("sync")
            error = f"  {run.error}" if run.status != "succeeded" and run.error else ""
            self._line(f"  sync {self.counts['sync']}/{total}  {system}  {run.status}  "
                       f"{run.rows_written:,} rows{error}")


def _print_flush(text: str) -> None:
    print(text, flush=True)
