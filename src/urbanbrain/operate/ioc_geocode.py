"""Where a facility's address is: its address text matched to the city's standard address registry, cached
per registry snapshot so the operations-centre wall does not geocode on every paint.

Why: the demo city's hospitals, schools and hazardous-chemicals enterprises (and most departments' ledgers)
carry an address and no coordinates, so the wall's facilities layer could draw only the monitoring stations.
The registry (资源规划's 标准地址库) has a position for every standard address; the address standardiser
(`capability.builtins.address.match_many`) parses each text and scores registry rows by which parts agree.

Governance: the addresses come from facility rows the viewer read (`operate.ioc_facilities`, as the viewer),
so a viewer who may not read a facility's row, or sees its address masked, gets no position for it. The
registry lookup itself is platform work (as `SYSTEM`, through the query engine, so it is in the access
log): it turns an address the viewer already holds into the position of that address, and its answer is
the same for every viewer, which is what lets one cache serve the whole wall.

The cache maps address text to a position (or to "not found") for one snapshot of the registry; a new
sync of the registry (a new snapshot id) starts a new cache, so a corrected address moves its facilities.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.principals import SYSTEM

MIN_SCORE = 0.6  # road and house number agree (0.65; 0.6 for 五一路 written for 五一大道 with its district)
MAX_CACHED = 200_000  # addresses kept per registry snapshot


@dataclass(frozen=True)
class Position:
    """Where an address was placed, and how sure the match is (the standardiser's score and level)."""

    lon: float
    lat: float
    score: float
    level: str
    address_id: str


_lock = threading.Lock()
_matching = threading.Lock()  # held while a batch is matched against the registry
_cache: dict[tuple[str, int | None], dict[str, Position | None]] = {}
stats = {"matched": 0, "cache_hits": 0, "queries": 0}  # tests and the bench read these


def _registry() -> tuple[str, int | None] | None:
    """The registry dataset's name and current snapshot (None when the city has no registry)."""
    from urbanbrain.capability.builtins._lake import find_dataset
    from urbanbrain.lake.datasets import lineage

    try:
        name = find_dataset(None, "address", (".addresses", ".address_registry", ".address"),
                            "address registry").name
    except UrbanBrainError:
        return None
    try:
        snapshot = lineage(name).snapshot_id
    except UrbanBrainError:
        snapshot = None
    return name, snapshot


def clear() -> None:
    """Forget every cached position (tests; a registry rebuilt under the same snapshot id)."""
    with _lock:
        _cache.clear()


def locate(addresses: Iterable[str]) -> dict[str, Position | None]:
    """Each address's position in the registry's current snapshot, None where it did not match (or the
    city has no registry). Only addresses not seen before in this snapshot are matched, in one batch."""
    wanted = list(dict.fromkeys(a.strip() for a in addresses if a and a.strip()))
    if not wanted:
        return {}
    registry = _registry()
    if registry is None:
        return dict.fromkeys(wanted)
    with _lock:
        for key in [k for k in _cache if k[0] == registry[0] and k != registry]:
            del _cache[key]  # an older snapshot of the same registry
        cache = _cache.setdefault(registry, {})
        missing = [a for a in wanted if a not in cache]
        stats["cache_hits"] += len(wanted) - len(missing)
    fresh: dict[str, Position | None] = {}
    if missing:
        with _matching:  # one batch at a time: a second caller (the warm-up, another wall) then finds them cached
            with _lock:
                missing = [a for a in missing if a not in cache]
            if missing:
                matched = _match(registry[0], missing, cache)
                if matched is None:
                    return dict.fromkeys(wanted)
                fresh = matched
    with _lock:
        return {a: fresh[a] if a in fresh else cache.get(a) for a in wanted}


def _match(registry: str, missing: list[str], cache: dict[str, Position | None]) -> dict[str, Position | None] | None:
    """Match `missing` against the registry and cache the answers while the cache has room; the answers
    (None when the registry cannot be read)."""
    from urbanbrain.capability.builtins.address import match_many

    try:
        found = match_many(missing, registry, MIN_SCORE, principal=SYSTEM)
    except UrbanBrainError:  # the registry lacks its columns, or cannot be read now: nothing located
        return None
    fresh: dict[str, Position | None] = {}
    for text in missing:
        m = found.get(text) or {}
        lon, lat = m.get("lon"), m.get("lat")
        fresh[text] = (Position(float(lon), float(lat), float(m["score"]), str(m.get("level")), str(m["address_id"]))
                       if m.get("address_id") and lon is not None and lat is not None else None)
    with _lock:
        stats["queries"] += 1
        stats["matched"] += len(missing)
        if len(cache) + len(fresh) <= MAX_CACHED:
            cache.update(fresh)
    return fresh
