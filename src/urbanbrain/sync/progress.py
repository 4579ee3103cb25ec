"""How a sync reports progress: the CLI draws Rich bars from it, the API and worker ignore it."""

from __future__ import annotations

from typing import Protocol

from urbanbrain.meta.schemas import SyncRunObjectPublic


class SyncProgress(Protocol):
    def object_started(self, name: str, estimate: int | None) -> None: ...

    def object_advanced(self, name: str, rows: int) -> None: ...

    def object_finished(self, name: str, outcome: SyncRunObjectPublic) -> None: ...


class NoProgress:
    def object_started(self, name: str, estimate: int | None) -> None:
        return None

    def object_advanced(self, name: str, rows: int) -> None:
        return None

    def object_finished(self, name: str, outcome: SyncRunObjectPublic) -> None:
        return None
