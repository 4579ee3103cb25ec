"""Blocking and training rules chosen from the data: what fields are filled and how selective they are.

No national ID is assumed. Every candidate key of the kind's fields (`generic.candidate_keys`) is measured
on the records as the number of pairs it would compare (dedupe: n(n-1)/2 per block; link-only: left x
right per block). Keys that compare nothing are dropped; keys that compare too much (more than
`cap` pairs), and categories whatever their count (a city or a cuisine label selects nothing worth
comparing, and EM blocked on one learns its m from pairs chosen for agreeing on it), are combined with
another field's key and measured again. The deterministic rules that set
the prior (the chance two random records match) are exact agreement on an identifying field (identifier,
phone, e-mail) or on a name plus one more field; if none finds a pair the prior is estimated from the
size of the data instead (about one duplicate per two records), so training never needs a national ID
and never divides by zero.

A kind whose fields cannot support linking (no field filled, or nothing selective enough) is refused with
a message naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import ValidationError
from urbanbrain.link.generic import IDENTIFYING, candidate_keys, comparisons_of
from urbanbrain.link.model import ModelSpec

MAX_RULES = 8
# how often two records of one entity may disagree on a field of this type, at least (see ModelSpec)
ELSE_M_FLOOR = {"category": 0.3, "address": 0.05, "phone": 0.05, "text": 0.05, "date": 0.02, "number": 0.05,
                "email": 0.05, "geo": 0.02, "name": 0.02}


@dataclass
class Plan:
    """What training chose and why: pair counts of every rule measured (the `link train` report)."""

    blocking: list[tuple[str, ...]] = field(default_factory=list)
    prior_rules: list[tuple[str, ...]] = field(default_factory=list)
    prior: float | None = None  # set when no deterministic rule found pairs
    counts: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    training: list[tuple[str, ...]] = field(default_factory=list)  # EM passes, each on another field

    def as_dict(self) -> dict[str, Any]:
        return {"blocking": [list(r) for r in self.blocking], "training": [list(r) for r in self.training],
                "prior_rules": [list(r) for r in self.prior_rules],
                "prior": self.prior, "pair_counts": self.counts, "filled": self.filled}


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def pair_count(con: Any, cols: tuple[str, ...], link_only: bool) -> int:
    """Pairs agreeing exactly on every column of `cols` (all non-null) in the registered `ub_recs`."""
    keys = ", ".join(_q(c) for c in cols)
    where = " AND ".join(f"{_q(c)} IS NOT NULL" for c in cols)
    if link_only:
        sql = (f"SELECT coalesce(sum(l * r), 0) FROM (SELECT count(*) FILTER (WHERE ub_side = 0) AS l, "
               f"count(*) FILTER (WHERE ub_side = 1) AS r FROM ub_recs WHERE {where} GROUP BY {keys})")
    else:
        sql = (f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM ub_recs "
               f"WHERE {where} GROUP BY {keys})")
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def plan(kind: str, fields: dict[str, str], records: pa.Table, *, link_only: bool = False,
         other: pa.Table | None = None) -> Plan:
    """Measure the candidate rules on `records` (and `other`, the right side of a link-only run)."""
    out = Plan()
    n_left = records.num_rows
    n_right = other.num_rows if other is not None else 0
    total = n_left + n_right
    out.filled = {f: _filled(records, f) + (_filled(other, f) if other is not None else 0)
                  for f in fields if f in records.column_names}
    present = {f: t for f, t in fields.items() if out.filled.get(f, 0) > 0}
    if not present:
        raise ValidationError(f"no field of {kind} has any value in the mapped records",
                              hint=f"map columns to its fields ({', '.join(fields)}) with `urbanbrain link map {kind}`")
    if all(t == "category" for t in present.values()):
        raise ValidationError(f"{kind} has only category fields filled ({', '.join(present)}): a category cannot "
                              "tell two entities apart",
                              hint="map a name, identifier, phone, e-mail, address, date or geo point to it")
    all_pairs = n_left * n_right if link_only else total * (total - 1) // 2
    # a key that pairs more than half of all records with each other selects nothing (on small data too)
    cap = min(max(50_000, 25 * total), max(1, all_pairs // 2) if all_pairs > 1_000 else all_pairs)
    con = duck.connect()
    try:
        frame = _sides(records, other) if link_only else records
        con.register("ub_recs", frame)
        keys = [(f, c) for f, c in candidate_keys(present)]
        singles: dict[tuple[str, ...], int] = {}
        for _, col in keys:
            singles[(col,)] = pair_count(con, (col,), link_only)
        # a category alone (a city, a cuisine) selects nothing worth comparing: only combined with another key
        field_of = dict((c, f) for f, c in keys)
        broad = [k for k, v in singles.items() if v > cap or present[field_of[k[0]]] == "category"]
        chosen = {k: v for k, v in singles.items() if 0 < v <= cap and k not in broad}
        for (a,), (b,) in combinations(broad, 2):
            if field_of[a] != field_of[b]:
                n = pair_count(con, (a, b), link_only)
                if 0 < n <= cap:
                    chosen[(a, b)] = n
        out.counts = {" + ".join(k): v for k, v in {**singles, **chosen}.items()}
        out.blocking = _pick(chosen, cap, field_of)
        out.training = _training(out.blocking, chosen, field_of)
        if not out.blocking:
            raise ValidationError(
                f"no field of {kind} is selective enough to find candidate pairs "
                f"(filled: {', '.join(f'{f} {n}' for f, n in out.filled.items() if n) or 'none'}; "
                f"pairs per key: {', '.join(f'{k} {v}' for k, v in out.counts.items())})",
                hint="map a more identifying column (name, phone, e-mail, an identifier, an address) to this kind")
        out.prior_rules = _prior_rules(con, present, link_only, n_left, n_right, out)
    finally:
        con.close()
    if not out.prior_rules:
        out.prior = 0.5 / max(n_left, n_right) if link_only else 1.0 / max(2, 2 * (total - 1))
    return out


def _filled(table: pa.Table, column: str) -> int:
    return table.num_rows - table.column(column).null_count if column in table.column_names else 0


def _sides(records: pa.Table, other: pa.Table | None) -> pa.Table:
    left = records.append_column("ub_side", pa.array([0] * records.num_rows, pa.int8()))
    if other is None:
        return left
    right = other.append_column("ub_side", pa.array([1] * other.num_rows, pa.int8()))
    return pa.concat_tables([left, right.select(left.column_names).cast(left.schema)])


def _pick(chosen: dict[tuple[str, ...], int], cap: int, field_of: dict[str, str]) -> list[tuple[str, ...]]:
    """One rule per field first (its key with most pairs: recall), then more while within 4 x cap pairs;
    never a rule that only narrows a chosen one."""
    order = sorted(chosen.items(), key=lambda kv: (len(kv[0]), -kv[1]))
    picked: list[tuple[str, ...]] = []
    spent = 0
    for first_pass in (True, False):
        covered = {frozenset(field_of[c] for c in rule) for rule in picked}
        for rule, n in order:
            fields = frozenset(field_of[c] for c in rule)
            if rule in picked or any(set(p) <= set(rule) for p in picked) or len(picked) >= MAX_RULES:
                continue
            if (first_pass and fields in covered) or spent + n > 4 * cap:
                continue
            picked.append(rule)
            covered.add(fields)
            spent += n
    return picked


def _training(blocking: list[tuple[str, ...]], chosen: dict[tuple[str, ...], int],
              field_of: dict[str, str]) -> list[tuple[str, ...]]:
    """Up to three EM passes blocked on different fields, most pairs first, so every comparison is
    estimated on pairs that were not selected for agreeing on it."""
    out: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for rule in sorted(blocking, key=lambda r: -chosen.get(r, 0)):
        fields = {field_of[c] for c in rule}
        if fields & seen:
            continue
        out.append(rule)
        seen |= fields
        if len(out) == 3:
            break
    return out


def _prior_rules(con: Any, present: dict[str, str], link_only: bool, n_left: int, n_right: int,
                 out: Plan) -> list[tuple[str, ...]]:
    """Deterministic rules that find pairs and are not broader than the data could hold as matches."""
    limit = 2 * max(n_left, n_right, 10)
    candidates: list[tuple[str, ...]] = [(f,) for f, t in present.items() if t in IDENTIFYING]
    named = [f for f, t in present.items() if t in ("name", "text")]
    others = [f for f, t in present.items() if t not in ("category",)]
    candidates += [(a, b) for a in named for b in others if a != b and (b, a) not in candidates]
    kept: list[tuple[str, ...]] = []
    for rule in candidates:
        n = pair_count(con, rule, link_only)
        out.counts["prior: " + " + ".join(rule)] = n
        if 0 < n <= limit:
            kept.append(rule)
    return kept[:4]


def spec_for(kind: str, fields: dict[str, str], chosen: Plan, *, threshold: float) -> ModelSpec:
    """A ModelSpec of a configured kind: comparisons of its filled fields by type, the measured rules."""
    filled = {f: t for f, t in fields.items() if chosen.filled.get(f, 0) > 0}
    return ModelSpec(
        name=kind, comparisons=comparisons_of(filled), blocking=tuple(chosen.blocking),
        training_blocks=tuple(chosen.training or chosen.blocking[:3]), prior_rules=tuple(chosen.prior_rules),
        prior_recall=0.8, threshold=threshold, review_low=min(0.5, threshold / 2), u_pairs=5e5,
        fixed={"prior": chosen.prior} if chosen.prior else {},
        else_m_floor={f: ELSE_M_FLOOR[t] for f, t in filled.items() if t in ELSE_M_FLOOR}, monotone=True)
