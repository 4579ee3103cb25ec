"""The steward's review queue: uncertain pairs (probability in the kind's review band) and decisions.

A run appends pairs scoring in [review_low, threshold) that nobody has decided yet; a steward approves
(same entity) or rejects (different entities) them in the console (`/link`) or with `urbanbrain link
decide`. Decisions stay in `registry.<kind>.review` and every later run applies them to its scores.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.link import store

DECISIONS = ("approved", "rejected")


def pair_id(a: str, b: str) -> str:
    """One ID per unordered pair of records."""
    return f"{a}~{b}" if a <= b else f"{b}~{a}"


def decided_pairs(review: pa.Table | None) -> dict[str, str]:
    if review is None or not review.num_rows:
        return {}
    rows = review.filter(pc.is_in(review.column("status"), pa.array(DECISIONS)))
    return dict(zip(rows.column("pair_id").to_pylist(), rows.column("status").to_pylist(), strict=True))


def review_rows(pairs: pa.Table, low: float, high: float, entity: dict[str, str], review: pa.Table | None,
                run_id: str) -> pa.Table:
    """New queue rows: pairs in [low, high) whose records sit in different entities, not queued before."""
    known = set(review.column("pair_id").to_pylist()) if review is not None and review.num_rows else set()
    rows: dict[str, tuple[str, str, float]] = {}
    for a, b, p in zip(pairs.column("uid_l").to_pylist(), pairs.column("uid_r").to_pylist(),
                       pairs.column("probability").to_pylist(), strict=True):
        pid = pair_id(a, b)
        if low <= p < high and pid not in known and entity.get(a) != entity.get(b):
            rows[pid] = (min(a, b), max(a, b), float(p))
    now = utcnow().isoformat()
    ids = sorted(rows)
    return pa.table({
        "pair_id": ids, "uid_l": [rows[i][0] for i in ids], "uid_r": [rows[i][1] for i in ids],
        "entity_l": [entity.get(rows[i][0]) for i in ids], "entity_r": [entity.get(rows[i][1]) for i in ids],
        "probability": [rows[i][2] for i in ids], "status": ["pending"] * len(ids), "created_at": [now] * len(ids),
        "decided_by": [None] * len(ids), "decided_at": [None] * len(ids), "run_id": [run_id] * len(ids),
    }, schema=store.REVIEW)


def queue(kind: str, status: str | None = "pending") -> list[dict[str, object]]:
    """Review rows (pending by default), highest probability first, with both records' features."""
    review = store.read(kind, "review")
    if review is None or not review.num_rows:
        return []
    if status:
        review = review.filter(pc.equal(review.column("status"), status))
    records = store.read(kind, "records")
    by_uid: dict[str, dict[str, object]] = {}
    if records is not None:
        wanted = set(review.column("uid_l").to_pylist()) | set(review.column("uid_r").to_pylist())
        subset = records.filter(pc.is_in(records.column("unique_id"), pa.array(sorted(wanted), pa.string())))
        by_uid = {str(r["unique_id"]): r for r in subset.to_pylist()}
    rows = sorted(review.to_pylist(), key=lambda r: -float(r["probability"] or 0))
    for r in rows:
        r["left"] = by_uid.get(str(r["uid_l"]), {})
        r["right"] = by_uid.get(str(r["uid_r"]), {})
    return rows


def decide(kind: str, pair: str, decision: str, *, by: Principal) -> dict[str, object]:
    """Record a steward's decision on a queued pair; the next run applies it."""
    if decision not in DECISIONS:
        raise ValidationError(f"unknown decision {decision!r}", hint="use approved or rejected")
    authorize("link.decide", by, store.DEPARTMENT[0])  # the base registries' own stewards
    review = store.read(kind, "review")
    match = review.filter(pc.equal(review.column("pair_id"), pair)) if review is not None else None
    if match is None or not match.num_rows:
        match = _manual_pair(kind, pair)  # a steward may link or separate any two records, queued or not
    row = match.slice(0, 1).to_pylist()[0]
    row.update(status=decision, decided_by=by.label, decided_at=utcnow().isoformat())
    store.write(kind, "review", pa.Table.from_pylist([row], schema=store.REVIEW), replace_keys={pair})
    record(by, "link.decide", f"{kind}:{pair}", {"decision": decision})
    return row


def _manual_pair(kind: str, pair: str) -> pa.Table:
    """A review row for a pair nobody queued, if both records are in the registry."""
    a, _, b = pair.partition("~")
    records = store.read(kind, "records", ["unique_id", "entity_id"])
    found = {} if records is None else dict(zip(*[records.filter(pc.is_in(
        records.column("unique_id"), pa.array([a, b]))).column(c).to_pylist() for c in ("unique_id", "entity_id")],
        strict=True))
    if not b or a not in found or b not in found:
        raise NotFoundError(f"no review pair {pair!r} for {kind}, and not two registry records",
                            hint=f"list queued pairs with `urbanbrain link review {kind}`; a pair is UID~UID")
    lo, hi = sorted((a, b))
    return review_rows(pa.table({"uid_l": [lo], "uid_r": [hi], "probability": [0.0]}), 0.0, 1.0,
                       {lo: found[lo], hi: "~" if found[lo] == found[hi] else found[hi]}, None, "manual")
