"""Statistics of the closed loop, computed in SQL over the case tables (never a Python loop over cases).

Volume by category/district over time, on-time response and resolution, satisfaction, return rate,
repeat hot spots and a department ranking. Read with `case.read` on the operations centre (all
departments); a department sees its own figures only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.orm import aliased

from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern.authz import allowed
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SLA_MARKS, Case, CaseSla
from urbanbrain.operate.states import ops_department

BUCKETS = {"day": "%Y-%m-%d", "month": "%Y-%m"}

_ESCALATION = aliased(CaseSla, name="escalation")


def _with_escalation() -> Any:
    """Cases joined to their resolution-overdue clock (`case_sla`, kind of `resolve_overdue_at`): counting
    escalations by a join, not by `Case.resolve_overdue_at`'s sub-select per case."""
    return Case.__table__.outerjoin(_ESCALATION, and_(_ESCALATION.case_id == Case.id,
                                                      _ESCALATION.kind == SLA_MARKS.index("resolve_overdue_at")))


def _scope(by: Principal) -> Any:
    if allowed("case.read", by, ops_department()):
        return True
    depts = sorted(d for d in by.departments if allowed("case.read", by, d))
    if not depts:
        raise PermissionDeniedError(f"{by.label} may not read case statistics",
                                    hint="the operations centre, or a department's own staff, may")
    return Case.department.in_(depts)


def _rate(num: Any, den: Any) -> Any:
    return func.round(cast(num, Integer) * 1.0 / func.nullif(den, 0), 4)


def volume(by: Principal, *, group: str = "category", bucket: str = "day", since: datetime | None = None
           ) -> list[dict[str, Any]]:
    """Cases created per bucket and category (or district)."""
    if group not in ("category", "district", "department") or bucket not in BUCKETS:
        raise ValidationError("group by category, district or department; bucket by day or month")
    with session_scope() as s:
        period = (func.strftime(BUCKETS[bucket], Case.created_at) if s.bind.dialect.name == "sqlite"  # type: ignore[union-attr]
                  else func.to_char(Case.created_at, "YYYY-MM-DD" if bucket == "day" else "YYYY-MM"))
        col = getattr(Case, group)
        q = select(period.label("period"), col.label(group), func.count().label("cases")).where(_scope(by))
        if since:
            q = q.where(Case.created_at >= since)
        q = q.group_by(period, col).order_by(period, col)
        return [dict(r._mapping) for r in s.execute(q)]


def departments(by: Principal) -> list[dict[str, Any]]:
    """Department ranking: on-time response and resolution, satisfaction, returns; best first."""
    responded = func.sum(case((Case.responded_at.is_not(None), 1), else_=0))
    on_time_r = func.sum(case((and_(Case.responded_at.is_not(None), Case.responded_at <= Case.respond_due_at), 1),
                              else_=0))
    resolved = func.sum(case((Case.resolved_at.is_not(None), 1), else_=0))
    on_time_s = func.sum(case((and_(Case.resolved_at.is_not(None), Case.resolved_at <= Case.resolve_due_at), 1),
                              else_=0))
    returned = func.sum(case((Case.returns > 0, 1), else_=0))
    q = (select(Case.department, func.count().label("cases"), _rate(on_time_r, responded).label("on_time_response"),
                _rate(on_time_s, resolved).label("on_time_resolution"),
                func.round(func.avg(Case.satisfaction), 2).label("satisfaction"),
                _rate(returned, func.count()).label("return_rate"),
                func.sum(case((_ESCALATION.raised_at.is_not(None), 1), else_=0)).label("escalated"))
         .select_from(_with_escalation())
         .where(_scope(by), Case.department.is_not(None)).group_by(Case.department))
    with session_scope() as s:
        rows = [dict(r._mapping) for r in s.execute(q)]
    rows.sort(key=lambda r: (-(r["on_time_resolution"] or 0), -(r["satisfaction"] or 0), r["department"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows


def hot_spots(by: Principal, *, min_cases: int = 3, cell_deg: float = 0.005) -> list[dict[str, Any]]:
    """Repeat hot spots: ~500 m grid cells (or the same address) with `min_cases`+ cases of one category."""
    lon_cell = func.round(Case.lon / cell_deg)
    lat_cell = func.round(Case.lat / cell_deg)
    q = (select(Case.category, (lon_cell * cell_deg).label("lon"), (lat_cell * cell_deg).label("lat"),
                func.count().label("cases"))
         .where(_scope(by), Case.lon.is_not(None), Case.category.is_not(None))
         .group_by(Case.category, lon_cell, lat_cell).having(func.count() >= min_cases)
         .order_by(func.count().desc()))
    with session_scope() as s:
        return [dict(r._mapping) for r in s.execute(q)]


def summary(by: Principal) -> dict[str, Any]:
    with session_scope() as s:
        row = s.execute(select(
            func.count().label("cases"),
            func.sum(case((Case.status.in_(("closed", "merged")), 0), else_=1)).label("open"),
            func.round(func.avg(Case.satisfaction), 2).label("satisfaction"),
            _rate(func.sum(case((Case.returns > 0, 1), else_=0)), func.count()).label("return_rate"),
            func.sum(case((_ESCALATION.raised_at.is_not(None), 1), else_=0)).label("escalated"),
        ).select_from(_with_escalation()).where(_scope(by))).one()
        return dict(row._mapping)
