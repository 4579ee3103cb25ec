"""Connected components over match edges: records joined by links at or above the threshold form one
entity. scipy's sparse graph routine does a million records and edges in about a second."""

from __future__ import annotations

from collections.abc import Hashable, Sequence, Set

import numpy as np


def connected_components(nodes: Sequence[Hashable], left: Sequence[Hashable],
                         right: Sequence[Hashable]) -> dict[Hashable, int]:
    """Component number of every node; edges naming nodes not in `nodes` are ignored.

    >>> connected_components(["a", "b", "c"], ["a"], ["b"]) == {"a": 0, "b": 0, "c": 1}
    True
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as components

    index = {node: k for k, node in enumerate(nodes)}
    pairs = [(index[a], index[b]) for a, b in zip(left, right, strict=True) if a in index and b in index]
    n = len(index)
    rows = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    cols = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = components(graph, directed=False)
    return {node: int(labels[k]) for node, k in index.items()}


def one_to_one(left: list[str], right: list[str], weight: list[float], keep: Set[tuple[str, str]] = frozenset()
               ) -> list[int]:
    """Indexes of the pairs a greedy one-to-one assignment keeps: strongest first, a pair only while
    neither record is taken yet (`keep`: pairs a steward approved, taken first whatever their weight).

    Link-only data are two sources each without duplicates, so a record has at most one partner; without
    this, two restaurants at one hotel address and phone chain with the other guide's two into one
    entity (connected components), and every pair among the four counts as a link.
    """
    order = sorted(range(len(left)), key=lambda i: ((left[i], right[i]) not in keep, -weight[i], left[i], right[i]))
    taken: set[str] = set()
    out: list[int] = []
    for i in order:
        if left[i] in taken or right[i] in taken:
            continue
        taken.update((left[i], right[i]))
        out.append(i)
    return sorted(out)
