"""Sealed connections kept between runs of the same queries (indicators refreshed every few minutes).

Opening a caller's sealed connection (`govern.query.open_sealed`) costs a DuckDB connection, a
policy decision and a table plan per dataset, and a view each: about 45 ms for a department's
indicators, more than their queries. The same department refreshes the same indicators over the
same datasets again and again, so its connection is kept and reused while it still shows exactly
what a new one would: the key is the reader (departments, roles) and the datasets; before each reuse
every dataset's current snapshot (one catalog query for all) and the reader's current policy on it
are compared with what the views were built from. Any difference — a new snapshot, a grant revoked,
a field closed, a row filter added — closes the kept connection and a fresh one is opened.

A kept connection is taken out while it is used (never shared by two threads), holds only views and
the locks `open_sealed` set (its SQL is read-only: nothing a query does survives into the next one),
and is never kept when it holds private scratch files. A query that fails on a reused connection is
run again alone by the caller, so a view made stale by something the comparison cannot see (a masked
twin evicted from the cache) can cost time, never a wrong error.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import Principal

if TYPE_CHECKING:
    from urbanbrain.govern.query import Sealed

MAX_KEPT = 32
Ident = tuple[str, ...]

_KEPT: OrderedDict[Hashable, Sealed] = OrderedDict()
_LOCK = threading.Lock()


def key_of(principal: Principal, idents: list[Ident]) -> Hashable:
    """What a kept connection is for: the reader's view (not its name) over these datasets."""
    settings = get_settings()
    return (settings.metadata_url, str(settings.warehouse_path), principal.kind, principal.departments,
            principal.roles, principal.scoped, tuple(idents))


def take(key: Hashable, principal: Principal) -> Sealed | None:
    """The kept connection for `key` if it still shows the current snapshots under the current policies
    (it is then the caller's until `give`); None when there is none or it is out of date."""
    return take_many([(key, principal)])[0]


def take_many(wanted: list[tuple[Hashable, Principal]]) -> list[Sealed | None]:
    """`take` of several (key, reader) at once, checked together: ONE catalog query for the snapshots
    of every dataset they show and ONE policy session (`policies_for_many`) for every reader's policy
    on them — refreshing all indicators takes a dozen departments' connections, and checking each
    alone cost a catalog query and, past the policy cache's two seconds, a metadata session each.

    Each connection is compared with ITS reader's current policies only: a kept connection is never
    handed to a key other than its own, and a reader whose policy changed gets None (its connection
    closed), whatever the others' answer."""
    from urbanbrain.govern.policy import policies_for_many
    from urbanbrain.lake.catalog import metadata_locations

    with _LOCK:
        found = [_KEPT.pop(key, None) for key, _ in wanted]
    taken = [(n, sealed, principal) for n, ((_, principal), sealed) in enumerate(zip(wanted, found, strict=True))
             if sealed is not None]
    out: list[Sealed | None] = [None] * len(wanted)
    if not taken:
        return out
    try:
        idents = sorted({ident for _, sealed, _ in taken for ident, _, _ in sealed.plan})
        now = metadata_locations(idents)
        asked = [(principal, ".".join(ident)) for _, sealed, principal in taken for ident, _, _ in sealed.plan]
        policies = iter(policies_for_many(asked))
    except Exception:  # the catalog unreachable, say: build afresh, which says why
        for _, sealed, _ in taken:
            sealed.close()
        return out
    for n, sealed, _ in taken:
        current = [(ident, now.get(ident), next(policies)) for ident, _, _ in sealed.plan]
        if current == sealed.plan:  # a dataset gone has no location (None) or no policy (None): differs
            out[n] = sealed
        else:
            sealed.close()
    return out


def give(key: Hashable, sealed: Sealed) -> None:
    """Keep `sealed` for the next run (the least recently used beyond `MAX_KEPT` are closed)."""
    if sealed.scratch or not sealed.plan:
        sealed.close()
        return
    with _LOCK:
        old = _KEPT.pop(key, None)
        _KEPT[key] = sealed
        extra = [_KEPT.popitem(last=False)[1] for _ in range(max(0, len(_KEPT) - MAX_KEPT))]
    for other in ([old] if old is not None else []) + extra:
        other.close()


def clear() -> None:
    """Close every kept connection (tests switching homes, shutdown)."""
    with _LOCK:
        kept = list(_KEPT.values())
        _KEPT.clear()
    for sealed in kept:
        sealed.close()
