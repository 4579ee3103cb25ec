"""Stable entity IDs: a new clustering inherits the IDs of the last one, and every change is an event.

Full run: each previous ID goes to the new cluster holding most of its records (largest first, ties by
ID), so an entity that only gained records keeps its ID. A cluster that inherits nothing gets a new ID.
Where records move from ID x to ID y, x still existing means x was *split* (event `split`); x gone
means x was *merged* into y (event `merged`). Incremental run: a batch record joins the entity of
the registry records it matches; a batch record matching two entities merges them into the larger.
IDs are never reused: the counter only moves forward.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from urbanbrain.link.clusters import connected_components

PREFIX = {"person": "PID", "organisation": "OID", "address": "AID"}
EVENT_KINDS = ("created", "merged", "split", "retired", "removed")  # what a run did to an entity


@dataclass
class Event:
    event: str  # one of EVENT_KINDS
    entity_id: str
    other_entity_id: str | None = None
    unique_id: str | None = None
    records: int = 0


@dataclass
class Assignment:
    """Entity ID per record for the records that (re)received one, and what happened on the way."""

    entity: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


class IdCounter:
    """Issues `PID0000000001`-style IDs from a number that only grows."""

    def __init__(self, kind: str, next_number: int) -> None:
        from urbanbrain.link.kinds import prefix_of

        self.prefix = PREFIX.get(kind) or prefix_of(kind)
        self.next_number = next_number

    def __call__(self) -> str:
        value = f"{self.prefix}{self.next_number:010d}"
        self.next_number += 1
        return value

    @staticmethod
    def number(entity_id: str) -> int:
        digits = entity_id[3:]
        return int(digits) if digits.isdigit() else 0


def moves(before: dict[str, str], after: dict[str, str], alive: set[str]) -> list[Event]:
    """merged/split events from records that changed ID (one event per (old, new) pair)."""
    moved: Counter[tuple[str, str]] = Counter()
    for uid, new in after.items():
        old = before.get(uid)
        if old is not None and old != new:
            moved[(old, new)] += 1
    return [Event("split" if old in alive else "merged", old if old in alive else new,
                  new if old in alive else old, records=n) for (old, new), n in sorted(moved.items())]


def assign_full(nodes: Sequence[str], left: Sequence[str], right: Sequence[str], previous: dict[str, str],
                new_id: Callable[[], str]) -> Assignment:
    """IDs for every node after clustering all links (left[i], right[i])."""
    component = connected_components(nodes, left, right)
    members: dict[int, list[str]] = defaultdict(list)
    for uid, c in component.items():
        members[c].append(str(uid))
    votes = sorted(((n, old, c) for c, uids in members.items()
                    for old, n in Counter(previous[u] for u in uids if u in previous).items()),
                   key=lambda v: (-v[0], v[1], v[2]))
    owner: dict[int, str] = {}
    taken: set[str] = set()
    for _, old, c in votes:
        if c not in owner and old not in taken:
            owner[c] = old
            taken.add(old)
    out = Assignment()
    for c in sorted(members, key=lambda c: min(members[c])):
        eid = owner.get(c)
        if eid is None:
            eid = new_id()
            out.events.append(Event("created", eid, records=len(members[c])))
        for uid in members[c]:
            out.entity[uid] = eid
    alive = set(out.entity.values())
    out.events += moves(previous, out.entity, alive)
    gone = {e for u, e in previous.items() if u not in out.entity} - alive  # every record of it removed
    out.events += [Event("retired", e) for e in sorted(gone)]
    return out


def assign_batch(batch: Sequence[str], left: Sequence[str], right: Sequence[str], registry: dict[str, str],
                 sizes: dict[str, int], new_id: Callable[[], str],
                 members_of: Callable[[Iterable[str]], dict[str, list[str]]]) -> Assignment:
    """IDs for a batch linked against the registry (`registry`: uid -> entity of the registry records
    the links name; `sizes`: records per entity; `members_of(ids)`: every record of those entities).

    Registry records are represented by their entity, so the work is the batch's links, not the
    registry's size; only a merge touches the records of the entities merged.
    """
    nodes: list[Hashable] = [*batch, *sorted({registry[u] for u in (*left, *right) if u in registry})]
    ends = [(registry.get(a, a), registry.get(b, b)) for a, b in zip(left, right, strict=True)]
    component = connected_components(nodes, [a for a, _ in ends], [b for _, b in ends])
    groups: dict[int, list[Hashable]] = defaultdict(list)
    for node, c in component.items():
        groups[c].append(node)
    batch_set = set(batch)
    out = Assignment()
    merged_away: list[tuple[str, str]] = []
    for c in sorted(groups, key=lambda c: str(min(map(str, groups[c])))):
        entities = sorted((str(n) for n in groups[c] if n not in batch_set), key=lambda e: (-sizes.get(e, 0), e))
        records = [str(n) for n in groups[c] if n in batch_set]
        if entities:
            eid = entities[0]
            merged_away += [(e, eid) for e in entities[1:]]
        else:
            eid = new_id()
            out.events.append(Event("created", eid, records=len(records)))
        for uid in records:
            out.entity[uid] = eid
    if merged_away:
        members = members_of([old for old, _ in merged_away])
        for old, eid in merged_away:
            for uid in members.get(old, []):
                out.entity[uid] = eid
            out.events.append(Event("merged", eid, old, records=len(members.get(old, []))))
    return out
