"""Auto-dispatch: propose category, department and location for a new case, explained; act when sure.

Category: the one the channel gave, else the text model trained on this city's own closed cases
(`urbanbrain.operate.evaluate`'s classifier; no model until enough cases have closed). Department: the
dispatch catalogue (category × district). Confidence at or above `threshold`, a catalogue rule found and
no likely duplicate → dispatched at once by `system:auto-dispatch`; otherwise the case waits in the
dispatcher's inbox with the proposal shown.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import driver_cursor, driver_time, session_scope
from urbanbrain.meta.models import Case
from urbanbrain.operate import catalogue
from urbanbrain.operate.states import OPEN

AUTO = Principal("system", "auto-dispatch")
MIN_TRAINING = 30
DUPLICATE_METRES = 50.0
DUPLICATE_WINDOW = timedelta(hours=72)
RECOUNT_SECONDS = 30.0
RETRAIN_SECONDS = 600.0
_MODEL: dict[str, Any] = {}


def threshold() -> float:
    return float(os.environ.get("URBANBRAIN_DISPATCH_THRESHOLD", "0.8"))


@dataclass
class Proposal:
    category: str | None
    confidence: float
    department: str | None
    rule: str | None
    duplicates: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def automatic(self) -> bool:
        return bool(self.department and self.category and self.confidence >= threshold() and not self.duplicates)

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "confidence": round(self.confidence, 4), "department": self.department,
                "rule": self.rule, "duplicates": self.duplicates, "reasons": self.reasons,
                "automatic": self.automatic, "threshold": threshold()}


def _category_model() -> Any | None:
    """A text → category model from closed cases, retrained as they accumulate.

    Counting the closed cases costs a scan, and retraining seconds of CPU: the count is read at most
    every `RECOUNT_SECONDS`, and the model is retrained when the closed cases grew by a tenth or, if
    they changed at all, after `RETRAIN_SECONDS` (the live demo closes a case every few seconds)."""
    import time

    from urbanbrain.meta.db import metadata_url
    from urbanbrain.operate.evaluate import _text_model

    url, now = metadata_url(), time.monotonic()
    if _MODEL.get("url") == url and now - _MODEL.get("counted", 0.0) < RECOUNT_SECONDS:
        return _MODEL.get("model")
    with session_scope() as s:
        n = int(s.scalar(select(func.count()).select_from(Case).where(Case.status == "closed",
                                                                      Case.category.is_not(None))) or 0)
        same_store = _MODEL.get("url") == url
        _MODEL.update(url=url, counted=now)
        if not same_store:
            _MODEL.update(model=None, n=0, trained=0.0)
        if n < MIN_TRAINING:
            _MODEL["model"] = None
            return None
        trained_n = int(_MODEL.get("n") or 0)
        stale = n >= trained_n * 1.1 or (n != trained_n and now - _MODEL.get("trained", 0.0) >= RETRAIN_SECONDS)
        if _MODEL.get("model") is not None and not stale:
            return _MODEL["model"]
        rows = s.execute(select(Case.description, Case.category).where(Case.status == "closed",
                                                                       Case.category.is_not(None))).all()
    if len({c for _, c in rows}) < 2:
        return None
    model = _text_model([str(t) for t, _ in rows], [str(c) for _, c in rows])
    _MODEL.update(model=model, n=n, trained=time.monotonic())
    return model


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.hypot(x, math.radians(lat2 - lat1))


@lru_cache(maxsize=1)
def _dup_statements() -> tuple[Select[str, float | None, float | None, str | None], ...]:
    """The duplicates queries (by box, by address), built once with bound parameters: building the
    expression cost ~0.5 ms of every Open311 POST (bench/cases)."""
    base = select(Case.id, Case.lon, Case.lat, Case.address).where(
        Case.category == bindparam("category"), Case.status.in_(OPEN), Case.id != bindparam("case_id"),
        Case.created_at >= bindparam("lo"), Case.created_at <= bindparam("hi"))
    return (base.where(Case.lon.between(bindparam("lon0"), bindparam("lon1")),
                       Case.lat.between(bindparam("lat0"), bindparam("lat1"))),
            base.where(Case.address == bindparam("address")))


_DUP_BASE = (f"SELECT id, lon, lat, address FROM cases WHERE category = ? AND status IN ({', '.join('?' * len(OPEN))}) "
             "AND id != ? AND created_at >= ? AND created_at <= ? AND ")
_DUP_SQL = (_DUP_BASE + "lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?", _DUP_BASE + "address = ?")


def duplicates(case_id: str, category: str | None, lon: float | None, lat: float | None, at: datetime,
               address: str | None = None, *, session: Session | None = None) -> list[str]:
    """Open cases of the same category within ~50 m (or at the same standardised address) in the window."""
    if not category:
        return []
    lo, hi = at - DUPLICATE_WINDOW, at + DUPLICATE_WINDOW
    if lon is not None and lat is not None:  # a box of ~60 m in SQL; the exact distance below
        box = 0.0006
        dlon = box / max(math.cos(math.radians(lat)), 0.1)
        q, params = _dup_statements()[0], {"category": category, "case_id": case_id, "lo": lo, "hi": hi,
                                           "lon0": lon - dlon, "lon1": lon + dlon, "lat0": lat - box,
                                           "lat1": lat + box}
    elif address:
        q, params = _dup_statements()[1], {"category": category, "case_id": case_id, "lo": lo, "hi": hi,
                                           "address": address}
    else:
        return []
    raw = driver_cursor(session.connection()) if session is not None else None
    if raw is not None:  # SQLite, inside the intake's transaction: the driver's cursor, no Core execution path
        conn = session.connection()  # type: ignore[union-attr]
        by_box = "lon0" in params
        args = [category, *OPEN, case_id, driver_time(conn, lo), driver_time(conn, hi)]
        args += [params["lon0"], params["lon1"], params["lat0"], params["lat1"]] if by_box else [address]
        rows = raw.execute(_DUP_SQL[0 if by_box else 1], args).fetchall()
    elif session is not None:
        rows = list(session.connection().execute(q, params).all())  # Core: no ORM execution path
    else:
        with session_scope() as s:
            rows = list(s.execute(q, params).all())
    out = []
    for cid, clon, clat, caddr in rows:
        if lon is not None and lat is not None and clon is not None and clat is not None:
            if metres(lon, lat, clon, clat) <= DUPLICATE_METRES:
                out.append(cid)
        elif address and caddr and address == caddr:
            out.append(cid)
    return sorted(out)


def propose(case: dict[str, Any], *, session: Session | None = None) -> Proposal:
    category, confidence = case.get("category"), 1.0 if case.get("category") else 0.0
    reasons: list[str] = []
    if category:
        reasons.append(f"category: given by the channel ({category})")
    else:
        model = _category_model()
        if model is None:
            reasons.append("category: no model yet (fewer than {MIN_TRAINING} closed cases); a dispatcher decides")
        else:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1):
                proba = model.predict_proba([case["description"]])[0]
            best = int(proba.argmax())
            category, confidence = str(model.classes_[best]), float(proba[best])
            reasons.append(f"category: {category} from the text, confidence {confidence:.2f}")
    rule = catalogue.lookup(category, case.get("district")) if category else None
    if category and rule is None:
        reasons.append(f"catalogue: nobody owns {category!r}" + (f" in {case['district']}" if case.get("district")
                                                                  else "") + " — a dispatcher decides")
    elif rule is not None:
        reasons.append(rule.explain())
    reasons.append(f"location: {case.get('district') or 'no district'}")
    dups = duplicates(case["id"], category, case.get("lon"), case.get("lat"),
                      datetime.fromisoformat(case["created_at"]), case.get("address"), session=session)
    if dups:
        reasons.append(f"possible duplicate of {', '.join(dups)}: proposed for merging")
    return Proposal(category, confidence, rule.department if rule else None,
                    rule.explain() if rule else None, dups, reasons)


def nearby(case: dict[str, Any], by: Principal, *, radius_m: float = 500.0, limit: int = 100) -> list[dict[str, Any]]:
    """Open cases within `radius_m` of the case's point that `by` may see (the case page's map): id,
    category, status, lon, lat, metres and whether the case proposed it as a duplicate."""
    from urbanbrain.operate.cases import may_read

    lon, lat = case.get("lon"), case.get("lat")
    if lon is None or lat is None:
        return []
    dups = set(((case.get("proposal") or {}).get("proposal") or {}).get("duplicates") or [])
    dlat = radius_m / 111_320
    dlon = dlat / max(math.cos(math.radians(lat)), 0.1)
    q = (select(Case).where(Case.status.in_(OPEN), Case.id != case["id"], Case.lon.between(lon - dlon, lon + dlon),
                            Case.lat.between(lat - dlat, lat + dlat))
         .order_by(Case.created_at.desc()).limit(limit * 4))
    out: list[dict[str, Any]] = []
    with session_scope() as s:
        for c in s.scalars(q):
            if c.lon is None or c.lat is None or not may_read(by, c):
                continue
            d = metres(lon, lat, c.lon, c.lat)
            if d <= radius_m:
                out.append({"id": c.id, "category": c.category, "status": c.status, "lon": c.lon, "lat": c.lat,
                            "metres": round(d), "duplicate": c.id in dups})
    for dup in dups - {o["id"] for o in out}:  # a proposed duplicate since merged or closed still shows
        with session_scope() as s:
            d_case = s.get(Case, dup)
            if d_case is not None and d_case.lon is not None and d_case.lat is not None and may_read(by, d_case):
                out.append({"id": d_case.id, "category": d_case.category, "status": d_case.status,
                            "lon": d_case.lon, "lat": d_case.lat, "duplicate": True,
                            "metres": round(metres(lon, lat, d_case.lon, d_case.lat))})
    return sorted(out, key=lambda o: int(o["metres"]))[:limit]
