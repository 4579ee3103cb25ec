"""The one policy check: for this principal and this dataset, what may be seen and how.

Every read path (SQL, preview, export, data APIs) gets its views from `policy_for`; nothing else
decides. The owning department and platform admins see everything as stored. Everyone else sees
`open` fields, `conditional` fields only under an approved, unexpired grant to one of their
departments, and never `closed` ones; fields with a PII type are masked (partial, keyed hash or
redacted, per field) unless the grant says the purpose needs them in clear. A department with a row
filter on the dataset sees only the rows it matches.

Decisions are cached per (principal, dataset) for a couple of seconds (`urbanbrain.core.ttlcache`):
reading classification, grants and filters cost ~4 ms per query, a fifth of a small analytical query.
Every change made through governance's services clears the cache at once (it listens on
`access.CHANGE_LISTENERS`); a policy never outlives the earliest expiry of a grant it used; a change
made by another process is seen within the TTL. Columns a sync adds meanwhile are hidden until then.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import NotFoundError
from urbanbrain.core.settings import get_settings
from urbanbrain.core.ttlcache import TtlCache
from urbanbrain.govern import access
from urbanbrain.govern.classification import (
    CLOSED,
    CONDITIONAL,
    DEFAULT_LEVEL,
    FieldInfo,
    dataset_row,
    field_table,
    fields_of,
    owner_of,
)
from urbanbrain.govern.masking import NONE
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import DataGrant, Dataset, DatasetClassification, FieldClassification, RowFilter, System

RAW = "raw"


@dataclass(frozen=True)
class ColumnAccess:
    name: str
    method: str  # raw | partial | hash | redact
    pii_type: str | None = None


@dataclass(frozen=True)
class DatasetPolicy:
    dataset: str
    owner: str
    columns: tuple[ColumnAccess, ...]  # what the principal sees, in the dataset's column order
    hidden: tuple[str, ...] = ()  # columns that do not exist for this principal
    row_filter: str | None = None  # a DuckDB predicate over the dataset's columns
    grant_ids: tuple[str, ...] = field(default_factory=tuple)
    valid_until: datetime | None = None  # the earliest expiry of a grant this decision relied on

    @property
    def masked(self) -> list[str]:
        return [c.name for c in self.columns if c.method != RAW]

    @property
    def unrestricted(self) -> bool:
        return not self.hidden and not self.masked and self.row_filter is None

    @property
    def grant_id(self) -> str | None:
        return ",".join(self.grant_ids) or None


_POLICIES: TtlCache[DatasetPolicy] = TtlCache()


def invalidate(*_: Any) -> None:
    """Forget every cached decision (a classification, grant or row filter changed)."""
    _POLICIES.clear()


access.CHANGE_LISTENERS.insert(0, invalidate)  # first: even if a later listener fails, nothing stale stays


def policy_for(principal: Principal, dataset: str, *, capability_grant: bool = False) -> DatasetPolicy:
    """What `principal` may see of `dataset`.

    `capability_grant=True` is for a consumer calling a data API under an approved capability grant:
    the owning department approved that use, so conditional fields count as granted in clear
    (closed ones stay hidden).
    """
    key = (get_settings().metadata_url, principal, dataset.lower(), capability_grant)
    policy = _POLICIES.get(key, lambda: _decide(principal, dataset, capability_grant))
    if policy.valid_until is not None and utcnow() >= policy.valid_until:
        _POLICIES.forget(key)
        policy = _POLICIES.get(key, lambda: _decide(principal, dataset, capability_grant))
    return policy


def policies_for(principal: Principal, datasets: list[str], *, capability_grant: bool = False
                 ) -> list[DatasetPolicy]:
    """`policy_for` of each of `datasets`, the ones not cached decided together (`policies_for_many`);
    a `NotFoundError` for a dataset that does not exist."""
    out: list[DatasetPolicy] = []
    for dataset, policy in zip(datasets, policies_for_many([(principal, d) for d in datasets],
                                                           capability_grant=capability_grant), strict=True):
        if policy is None:
            raise NotFoundError(f"no dataset named {dataset!r}", hint="names are department.system.object; "
                                "list them with `urbanbrain dataset list`")
        out.append(policy)
    return out


def policies_for_many(requests: list[tuple[Principal, str]], *, capability_grant: bool = False
                      ) -> list[DatasetPolicy | None]:
    """The policy of each (principal, dataset) — None for a dataset that does not exist — the ones not
    cached decided in ONE metadata session with one query per table read (datasets, classifications,
    field levels, grants, row filters) for all of them: refreshing every indicator asks for the
    policies of a dozen owners on fifty datasets at once, and deciding each alone cost four queries.

    The decisions are stored in the same 2-second cache `policy_for` uses, unless an invalidation
    happened while they were being made (`TtlCache.generation`): a decision read before a grant was
    revoked is used by this call only, never served to the next."""
    url = get_settings().metadata_url
    generation = _POLICIES.generation()
    now = utcnow()
    out: list[DatasetPolicy | None] = []
    missing: dict[Hashable, tuple[Principal, str]] = {}
    cached: dict[Hashable, DatasetPolicy] = {}
    keys: list[Hashable] = []
    for principal, dataset in requests:
        key: Hashable = (url, principal, dataset.lower(), capability_grant)
        keys.append(key)
        policy = _POLICIES.peek(key)
        if policy is None or (policy.valid_until is not None and now >= policy.valid_until):
            missing[key] = (principal, dataset.lower())
        else:
            cached[key] = policy
    decided: dict[Hashable, DatasetPolicy | None] = {}
    if missing:
        with session_scope() as s:
            decided = dict(zip(missing, _decide_many(s, list(missing.values()), capability_grant), strict=True))
        for made, policy in decided.items():
            if policy is not None:
                _POLICIES.put(made, policy, generation)
    for wanted in keys:
        out.append(decided[wanted] if wanted in decided else cached[wanted])
    return out


def _decide_many(s: Session, requests: list[tuple[Principal, str]], capability_grant: bool
                 ) -> list[DatasetPolicy | None]:
    """The decisions of `requests` from one read of each table (what `_decide_in` reads per dataset)."""
    names = sorted({d for _, d in requests})
    datasets = {ds.name: ds for ds in s.scalars(select(Dataset).where(Dataset.name.in_(names)).options(
        joinedload(Dataset.system).joinedload(System.department)))}
    ids = [ds.id for ds in datasets.values()]
    levels = {r.dataset_id: r.default_level for r in s.scalars(
        select(DatasetClassification).where(DatasetClassification.dataset_id.in_(ids)))} if ids else {}
    classified: dict[str, list[FieldClassification]] = {}
    for r in (s.scalars(select(FieldClassification).where(FieldClassification.dataset_id.in_(ids))) if ids else []):
        classified.setdefault(r.dataset_id, []).append(r)
    outsiders = sorted({d for p, name in requests if name in datasets
                        and not p.in_department(owner_of(datasets[name])) for d in p.departments})
    grants: dict[str, list[DataGrant]] = {}
    filters: dict[str, dict[str, str]] = {}
    if outsiders:
        now = utcnow()
        for g in s.scalars(select(DataGrant).where(DataGrant.dataset_id.in_(ids), DataGrant.status == "approved",
                                                   DataGrant.grantee_department.in_(outsiders))):
            if g.expires_at is not None and as_utc(g.expires_at) > now:
                grants.setdefault(g.dataset_id, []).append(g)
        for f in s.scalars(select(RowFilter).where(RowFilter.dataset_id.in_(ids),
                                                   RowFilter.department.in_(outsiders))):
            filters.setdefault(f.dataset_id, {})[f.department] = f.predicate
    out: list[DatasetPolicy | None] = []
    for principal, name in requests:
        ds = datasets.get(name)
        if ds is None:
            out.append(None)
        elif ds.role == "rollup":  # follows another dataset's policy: decided the ordinary way (rare)
            out.append(_decide_in(s, principal, name, capability_grant))
        else:
            fields = fields_of(ds, levels.get(ds.id, DEFAULT_LEVEL), classified.get(ds.id, []))
            mine = [g for g in grants.get(ds.id, []) if g.grantee_department in principal.departments]
            theirs = {d: p for d, p in filters.get(ds.id, {}).items() if d in principal.departments}
            out.append(_decision(principal, ds, fields, mine, theirs, capability_grant))
    return out


def _decide(principal: Principal, dataset: str, capability_grant: bool) -> DatasetPolicy:
    with session_scope() as s:
        return _decide_in(s, principal, dataset, capability_grant)


def _decide_in(s: Session, principal: Principal, dataset: str, capability_grant: bool) -> DatasetPolicy:
    ds = dataset_row(s, dataset)
    if ds.role == "rollup":
        return _summary(principal, ds.name, [str(c["name"]) for c in ds.schema_json], owner_of(ds),
                        capability_grant)
    if principal.in_department(owner_of(ds)):  # the owner's view reads no grants or filters
        return _decision(principal, ds, field_table(s, ds), [], {}, capability_grant)
    now = utcnow()
    grants = [g for g in s.scalars(select(DataGrant).where(
        DataGrant.dataset_id == ds.id, DataGrant.status == "approved",
        DataGrant.grantee_department.in_(sorted(principal.departments))))
        if g.expires_at is not None and as_utc(g.expires_at) > now]
    filters = {f.department: f.predicate for f in s.scalars(select(RowFilter).where(
        RowFilter.dataset_id == ds.id, RowFilter.department.in_(sorted(principal.departments))))}
    return _decision(principal, ds, field_table(s, ds), grants, filters, capability_grant)


def _decision(principal: Principal, ds: Dataset, fields: list[FieldInfo], grants: list[DataGrant],
              filters: dict[str, str], capability_grant: bool) -> DatasetPolicy:
    """The decision from what was read: the dataset, its fields' levels, the principal's departments'
    approved unexpired grants on it and their row filters (one rule for `_decide_in` and `_decide_many`)."""
    owner = owner_of(ds)
    if principal.in_department(owner):  # includes platform admins and SYSTEM
        return DatasetPolicy(ds.name, owner, tuple(ColumnAccess(f.column, RAW, f.pii_type) for f in fields))
    granted = {c for g in grants for c in g.approved_fields}
    in_clear = {c for g in grants if g.unmasked for c in g.approved_fields}
    visible: list[ColumnAccess] = []
    hidden: list[str] = []
    for f in fields:
        if f.level == CLOSED or (f.level == CONDITIONAL and f.column not in granted and not capability_grant):
            hidden.append(f.column)
            continue
        clear = capability_grant or f.column in in_clear
        method = RAW if clear or not f.pii_type or f.mask == NONE else f.mask
        visible.append(ColumnAccess(f.column, method, f.pii_type))
    row_filter = None
    if principal.departments and all(d in filters for d in principal.departments):
        row_filter = " OR ".join(f"({filters[d]})" for d in sorted(principal.departments))
    used = [g for g in grants if set(g.approved_fields) & {c.name for c in visible}]
    expiries = [as_utc(g.expires_at) for g in used if g.expires_at is not None]
    return DatasetPolicy(ds.name, owner, tuple(visible), tuple(hidden), row_filter, tuple(g.id for g in used),
                         min(expiries) if expiries else None)


def _summary(principal: Principal, name: str, columns: list[str], owner: str,
             capability_grant: bool) -> DatasetPolicy:
    """A feed's rollups (`<ns>.rollups`, one row per attribute and bucket) follow the policy of the
    history they summarise (`<ns>.observations`): a principal sees the rows of the attributes whose
    history column it sees in clear, only when it sees the devices and times, and under the same row
    filter when that filter names only columns the rollups have."""
    source = policy_for(principal, name.rsplit(".", 1)[0] + ".observations", capability_grant=capability_grant)
    cols = tuple(ColumnAccess(c, RAW) for c in columns)
    if source.unrestricted:
        return DatasetPolicy(name, owner, cols)
    clear = {c.name for c in source.columns if c.method == RAW}
    attributes = sorted(clear - {"device_id", "type", "observed_at", "ingested_at", "lon", "lat", "other"})
    if not {"device_id", "observed_at"} <= clear or not attributes:
        predicate = "FALSE"
    else:
        predicate = "attribute IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in attributes) + ")"
    if source.row_filter:
        import re

        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", source.row_filter)))
        known = set(columns) | {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "TRUE", "FALSE", "and", "or",
                                "not", "in", "is", "null", "like", "true", "false"}
        predicate += f" AND ({source.row_filter})" if named <= known else " AND FALSE"
    return DatasetPolicy(name, owner, cols, (), predicate, source.grant_ids, source.valid_until)


def holds_unmasking_grant(department: str, dataset: str) -> bool:
    """`department` holds an approved, unexpired grant to see fields of `dataset` in clear (what a data
    API of that department needs to republish another department's data)."""
    now = utcnow()
    with session_scope() as s:
        ds = dataset_row(s, dataset)
        grants = s.scalars(select(DataGrant).where(
            DataGrant.dataset_id == ds.id, DataGrant.status == "approved", DataGrant.unmasked.is_(True),
            DataGrant.grantee_department == department.lower()))
        return any(g.expires_at is not None and as_utc(g.expires_at) > now for g in grants)
