"""A feed's journal: accepted readings appended and fsynced before their messages are acknowledged.

The journal is what "durable on our side" means: history is committed from it in micro-batches,
and each Iceberg commit records the journal position it covers (`<generation>:<offset>`) in the
same atomic commit as the rows. After a crash the readings past that position are replayed, so
nothing acknowledged is lost; readings a broker redelivers that are already in history are dropped
by the dedupe on device + observedAt.

Live state is saved apart from history (less often, to the metadata database or Redis), so the journal
also keeps the position the last saved state covers (`state-position`, replaced atomically). After a
crash the readings between that position and history's are applied to state again (not to history),
so state never misses a reading history has. A generation is deleted once both positions are past it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_FILE = "state-position"
_POSITION = re.compile(r"\d{1,12}:\d{1,18}")
log = logging.getLogger(__name__)


class Journal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        gens = self.generations()
        self.generation = (gens[-1] + 1) if gens else 1
        self._fh = open(self._path(self.generation), "ab")  # noqa: SIM115 - kept open for appends
        self.state_position = _read_position(folder / STATE_FILE)
        self._committed: str | None = None

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
        """History now covers everything up to `position`: generations older than both it and the
        saved state's position can go."""
        self._committed = position
        self._drop_covered()

    def state_saved(self, position: str) -> None:
        """Live state now covers everything up to `position` (written, fsynced, renamed into place)."""
        if position == self.state_position:
            return
        tmp = self.folder / f"{STATE_FILE}.tmp"
        with open(tmp, "w") as fh:
            fh.write(position)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / STATE_FILE)
        self.state_position = position
        self._drop_covered()

    def _drop_covered(self) -> None:
        # no state position yet (a journal from before it was kept): keep what a crash would replay
        gen = min(_parse(self._committed)[0], _parse(self.state_position)[0])
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


def _read_position(path: Path) -> str | None:
    """The saved state's position; None (replay everything kept into state, which is harmless) when
    missing, or unreadable — a damaged file must not stop the feed from starting."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("journal %s: cannot read %s (%s); replaying the whole journal into live state",
                    path.parent, path.name, exc)
        return None
    if not _POSITION.fullmatch(text):
        log.warning("journal %s: %s holds %r, not <generation>:<offset>; replaying the whole journal into "
                    "live state", path.parent, path.name, text[:40])
        return None
    return text


def earlier(a: str | None, b: str | None) -> str | None:
    """The earlier of two positions (None, "nothing yet", is earliest)."""
    return a if _parse(a) <= _parse(b) else b


def at_or_before(position: str, limit: str | None) -> bool:
    return _parse(position) <= _parse(limit)


def _parse(position: str | None) -> tuple[int, int]:
    if not position:
        return 0, 0
    gen, off = position.split(":")
    return int(gen), int(off)
