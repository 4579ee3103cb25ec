"""The demo city's sharing requests: departments asking each other for conditional fields, in every state.

A fresh demo had an empty /sharing page, so nobody could see the flow. These requests go through the
same service functions a user's form does, as the demo's users (and a steward of each owning
department): one still waiting for police's stewards (who can log in and decide it), one approved, one
refused with a reason, one approved and then revoked.
"""

from __future__ import annotations

from collections import Counter

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern import sharing
from urbanbrain.govern.classification import CONDITIONAL, get_classification
from urbanbrain.govern.principals import ANALYST, DEVELOPER, STEWARD, Principal
from urbanbrain.lake.datasets import list_datasets

# (requesting user, role, department) -> the owner whose conditional fields they ask for, and the outcome
PLAN: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("health.analyst", ANALYST, "health", "police", "requested",
     "核验就诊人员户籍地址 / verify patients' registered addresses"),
    ("market.analyst", ANALYST, "market", "police", "approved",
     "企业法人身份核验 / check company legal representatives' identity"),
    ("transport.developer", DEVELOPER, "transport", "market", "refused", "出行应用展示 / show in a travel app"),
    ("police.analyst", ANALYST, "police", "civil", "revoked", "走访独居老人 / visits to elderly people living alone"),
)
REASONS = {"refused": "用途与字段不相称 / the purpose does not need these fields",
           "revoked": "任务已完成 / the task is finished"}


def _user(name: str, role: str, department: str) -> Principal:
    return Principal("user", name, frozenset({department}), frozenset({role}))


def _conditional_fields(owner: str) -> tuple[str, list[str]] | None:
    """The owner's first dataset (by name) with conditional fields, and up to three of them."""
    for ds in sorted(list_datasets(dept=owner, include_quarantine=False), key=lambda d: d.name):
        fields = [f.column for f in get_classification(ds.name)[1] if f.level == CONDITIONAL]
        if fields:
            return ds.name, fields[:3]
    return None


def seed_sharing_requests() -> dict[str, int]:
    """Create the demo's requests once (a second run keeps the ones that exist); returns counts by status."""
    if sharing.list_grants():
        return dict(Counter(g.status for g in sharing.list_grants()))
    for user, role, department, owner, outcome, purpose in PLAN:
        target = _conditional_fields(owner)
        if target is None:
            continue
        dataset, fields = target
        steward = _user(f"{owner}.steward", STEWARD, owner)
        try:
            grant = sharing.request_fields(dataset, fields, purpose, 30, by=_user(user, role, department))
            if outcome in ("approved", "revoked"):
                sharing.approve(grant.id, by=steward)
            if outcome == "refused":
                sharing.refuse(grant.id, REASONS["refused"], by=steward)
            if outcome == "revoked":
                sharing.revoke(grant.id, REASONS["revoked"], by=steward)
        except UrbanBrainError:  # a demo without that department's data: fewer examples, not a failed demo
            continue
    return dict(Counter(g.status for g in sharing.list_grants()))
