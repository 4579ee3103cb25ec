"""A feed's journal: accepted readings appended and fsynced before their messages are acknowledged.

The journal is what "durable on our side" means: history is committed from it in micro-batches,
and each Iceberg commit records the journal position it covers (`<generation>:<offset>`) in the
same atomic commit as the rows. After a crash the readings past that position are replayed, so
nothing acknowledged is lost; readings a broker redelivers that are already in history are dropped
by the dedupe on device + observedAt. A generation whose readings are all committed is deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        gens = self.generations()
        self.generation = (gens[-1] + 1) if gens else 1
        self._fh = open(self._path(self.generation), "ab")  # noqa: SIM115 - kept open for appends

    def _path(self, gen: int) -> Path:
        return self.folder / f"journal-{gen:08d}.jsonl"

    def generations(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("journal-*.jsonl"))

    @property
    def position(self) -> str:
        return f"{self.generation}:{self._fh.tell()}"

    def append(self, records: list[Any]) -> str:
        """Write and fsync; returns the position after the last record."""
        if records:
            self._fh.write(_encode(records))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return self.position

    def replay(self, committed: str | None) -> Iterator[tuple[dict[str, Any], str]]:
        """Records after `committed` in older generations (this run's own is empty), with positions."""
        cgen, coff = _parse(committed)
        for gen in self.generations():
            if gen >= self.generation or gen < cgen:
                continue
            path = self._path(gen)
            with open(path, "rb") as fh:
                if gen == cgen:
                    fh.seek(coff)
                while True:
                    line = fh.readline()
                    if not line.endswith(b"\n"):
                        break  # a torn last line: the fsync never completed, so it was never acknowledged
                    doc = json.loads(line)
                    pos = f"{gen}:{fh.tell()}"
                    for rec in doc if isinstance(doc, list) else [doc]:  # a batch per line, or one record
                        yield rec, pos

    def committed(self, position: str) -> None:
        """History now covers everything up to `position`: older generations can go."""
        gen, _ = _parse(position)
        for old in self.generations():
            if old < gen and old != self.generation:
                self._path(old).unlink(missing_ok=True)

    @property
    def size(self) -> int:
        return self._fh.tell()

    def rotate(self) -> None:
        """Start a new generation (by the appending thread, when the current one is large)."""
        self._fh.close()
        self.generation += 1
        self._fh = open(self._path(self.generation), "ab")  # noqa: SIM115

    def close(self) -> None:
        self._fh.close()


def _encode(records: list[Any]) -> bytes:
    """One line per batch: a JSON array of the records (orjson when installed, dataclasses as objects
    and times as RFC 3339; else the stdlib)."""
    try:
        import orjson

        return orjson.dumps(records, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except (ImportError, TypeError):  # no orjson, or e.g. an integer past 64 bits: the stdlib writes it
        from dataclasses import asdict, is_dataclass

        plain = [asdict(r) if is_dataclass(r) and not isinstance(r, type) else r for r in records]
        return (json.dumps(plain, ensure_ascii=False, separators=(",", ":"), default=_iso) + "\n").encode()


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _parse(position: str | None) -> tuple[int, int]:
    if not position:
        return 0, 0
    gen, off = position.split(":")
    return int(gen), int(off)
