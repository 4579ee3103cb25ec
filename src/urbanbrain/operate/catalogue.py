"""The dispatch catalogue: category × district → responsible department, edited by the operations centre.

A district-specific rule beats the city-wide one (`district = "*"`). Every department named must be
registered (`urbanbrain dept add`): a catalogue pointing at nobody would dispatch cases into a void.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Department, DispatchRule
from urbanbrain.operate.cache import invalidate, snapshot
from urbanbrain.operate.states import ops_department

ANY = "*"


@dataclass(frozen=True)
class RuleMatch:
    """Which rule chose the department, so a dispatch decision can explain itself."""

    category: str
    district: str
    department: str

    def explain(self) -> str:
        where = "every district" if self.district == ANY else self.district
        return f"catalogue: {self.category} in {where} → {self.department}"


def require_department(s: Session, code: str) -> str:
    from urbanbrain.operate.cache import department_exists

    code = code.strip().lower()
    if department_exists(code):
        return code
    if s.scalar(select(Department.code).where(Department.code == code)) is None:
        known = ", ".join(s.scalars(select(Department.code).order_by(Department.code))) or "none"
        raise NotFoundError(f"unknown department {code!r}", hint=f"registered departments: {known}")
    return code


def set_rule(by: Principal, category: str, department: str, district: str = ANY, *,
             now: datetime | None = None) -> RuleMatch:
    """Add or replace the rule for (category, district)."""
    authorize("dispatch_rule.set", by, department=ops_department())
    category, district = category.strip(), (district or ANY).strip()
    if not category:
        raise ValidationError("a dispatch rule needs a category")
    with session_scope() as s:
        dept = require_department(s, department)
        row = s.scalar(select(DispatchRule).where(DispatchRule.category == category,
                                                  DispatchRule.district == district))
        previous = row.department if row else None
        if row is None:
            row = DispatchRule(category=category, district=district, department=dept)
            s.add(row)
        row.department, row.updated_at, row.updated_by = dept, now or utcnow(), by.label
        invalidate(s)
        audit.record(by, "dispatch_rule.set", f"dispatch_rule:{category}/{district}",
                     {"department": dept, "previous": previous}, session=s)
    return RuleMatch(category, district, dept)


def remove_rule(by: Principal, category: str, district: str = ANY) -> None:
    authorize("dispatch_rule.set", by, department=ops_department())
    with session_scope() as s:
        gone = s.execute(delete(DispatchRule).where(DispatchRule.category == category,
                                                    DispatchRule.district == district))
        if gone.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFoundError(f"no dispatch rule for {category!r} in {district!r}")
        invalidate(s)
        audit.record(by, "dispatch_rule.set", f"dispatch_rule:{category}/{district}", {"department": None},
                     session=s)


def lookup(category: str, district: str | None, s: Session | None = None) -> RuleMatch | None:
    """The department owning `category` in `district` (district rule first, then city-wide), or None.

    Without a session, from the process's snapshot of the catalogue (`operate.cache`, ~2 s behind an
    edit made by another process); with one, from the store inside the caller's transaction."""
    if s is None:
        rules = snapshot().rules
        rows = {d: rules[(category, d)] for d in (district or ANY, ANY) if (category, d) in rules}
    else:
        rows = {r.district: r.department for r in s.scalars(
            select(DispatchRule).where(DispatchRule.category == category,
                                       DispatchRule.district.in_([district or ANY, ANY])))}
    for d in (district, ANY):
        if d and d in rows:
            return RuleMatch(category, d, rows[d])
    return None


def list_rules() -> list[dict[str, str]]:
    with session_scope() as s:
        return [{"category": r.category, "district": r.district, "department": r.department}
                for r in s.scalars(select(DispatchRule).order_by(DispatchRule.category, DispatchRule.district))]


def categories() -> list[str]:
    """Every category someone owns: what Open311 lists as services (from the snapshot)."""
    return snapshot().categories


def owners() -> dict[str, list[str]]:
    """Category → the departments owning it somewhere (from the snapshot)."""
    out: dict[str, set[str]] = {}
    for (category, _district), dept in snapshot().rules.items():
        out.setdefault(category, set()).add(dept)
    return {c: sorted(d) for c, d in sorted(out.items())}
