"""The operations-centre screen (`/ioc`): what a wall shows, as one governed snapshot, and its configuration.

A screen is named (`main` unless configured otherwise) and lists its indicator tiles (themes or single
indicators) and its map layers (live sensors, open cases, alerts, facilities). The operations centre edits screens
(`ioc.configure`, audited). Everything a snapshot holds is read as the signed-in user: indicators are
published aggregates (every signed-in user reads them), sensors come through `stream.service.live_state`
(the feed's policy), cases through `operate.cases.list_cases` (the caller's departments unless it reads
for the operations centre), alerts through `stream.alerts.list_alerts`, the department ranking through
`operate.stats.departments`, facilities through `operate.ioc_facilities` (a governed dataset read) — so
a department's analyst sees its own cases and sensors on the same wall.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import PermissionDeniedError, UrbanBrainError, ValidationError
from urbanbrain.core.naming import validate_code
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Indicator, IndicatorValue, IocScreen
from urbanbrain.operate.indicators import NESTED, SEP
from urbanbrain.operate.states import ops_department

THEMES = ("environment", "transport", "public_safety", "health", "education", "economy", "housing",
          "urban_management", "hotline")
LAYERS = ("sensors", "cases", "alerts", "facilities")
DEFAULT_SCREEN = "main"
SPARK_POINTS = 24
SILENT_AFTER = timedelta(minutes=15)
MAX_POINTS = 20_000


def _default(name: str) -> dict[str, Any]:
    return {"name": name, "title": "城市运行管理中心", "tiles": list(THEMES), "layers": list(LAYERS),
            "updated_at": None, "updated_by": None}


def get_screen(name: str = DEFAULT_SCREEN) -> dict[str, Any]:
    """A screen's configuration (the default layout when it was never edited)."""
    with session_scope() as s:
        row = s.get(IocScreen, name)
        if row is None:
            return _default(name)
        return {"name": row.name, "title": row.title, "tiles": list(row.tiles), "layers": list(row.layers),
                "updated_at": as_utc(row.updated_at).isoformat(), "updated_by": row.updated_by}


def list_screens() -> list[dict[str, Any]]:
    with session_scope() as s:
        names = list(s.scalars(select(IocScreen.name).order_by(IocScreen.name)))
    return [get_screen(n) for n in ([DEFAULT_SCREEN] if DEFAULT_SCREEN not in names else []) + names]


def set_screen(by: Principal | None, name: str, *, tiles: list[str], layers: list[str], title: str = "",
               now: datetime | None = None) -> dict[str, Any]:
    """Choose what a screen shows: tiles are themes or indicator names, layers a subset of `LAYERS`."""
    by = acting(by)
    validate_code(name, "screen name")
    authorize("ioc.configure", by, department=ops_department())
    bad_layers = [x for x in layers if x not in LAYERS]
    if bad_layers:
        raise ValidationError(f"unknown map layers {bad_layers}", hint=f"choose from {', '.join(LAYERS)}")
    with session_scope() as s:
        known = set(THEMES) | set(s.scalars(select(Indicator.name))) | set(s.scalars(select(Indicator.theme)))
        unknown = [x for x in tiles if x not in known]
        if unknown:
            raise ValidationError(f"unknown tiles {unknown}", hint="a tile is a theme or an indicator name")
        row = s.get(IocScreen, name) or IocScreen(name=name)
        row.title, row.tiles, row.layers = title or row.title or "", list(tiles), list(layers)
        row.updated_at, row.updated_by = now or utcnow(), by.label
        s.add(row)
        audit.record(by, "ioc.configure", f"ioc_screen:{name}", {"tiles": tiles, "layers": layers}, session=s)
    return get_screen(name)


def tiles(screen: dict[str, Any], district: str | None = None) -> list[dict[str, Any]]:
    """Tiles grouped by theme: each indicator's value, light, unit and a sparkline of its latest points;
    with `district` (a name such as 芙蓉区), the district's own value where the indicator has one and, for a
    breakdown by street (`operate.indicators.NESTED`), its streets' values (`streets`: the next level down)."""
    wanted = screen["tiles"]
    with session_scope() as s:
        rows = list(s.scalars(select(Indicator).order_by(Indicator.theme, Indicator.name)))
        rows = [r for r in rows if r.theme in wanted or r.name in wanted]
        since = utcnow() - timedelta(days=30)
        spark: dict[str, list[float]] = {}
        q = (select(IndicatorValue.indicator_id, IndicatorValue.value)
             .where(IndicatorValue.indicator_id.in_([r.id for r in rows]), IndicatorValue.key == "",
                    IndicatorValue.at >= since).order_by(IndicatorValue.at, IndicatorValue.id))
        for ind, value in s.execute(q):
            if value is not None:
                spark.setdefault(ind, []).append(value)
        local: dict[str, float] = {}
        below: dict[str, dict[str, float]] = {}  # a district's streets (nested breakdowns): the drill's next level
        if district:
            nested = [r.id for r in rows if (r.breakdown or "").lower() in NESTED]
            q2 = (select(IndicatorValue.indicator_id, IndicatorValue.key, IndicatorValue.value, IndicatorValue.at)
                  .where(or_(IndicatorValue.key == district,
                             and_(IndicatorValue.indicator_id.in_(nested),
                                  IndicatorValue.key.startswith(district + SEP, autoescape=True))),
                         IndicatorValue.indicator_id.in_([r.id for r in rows])))
            latest = {r.id: r.computed_at for r in rows}
            for ind, key, value, at in s.execute(q2):
                computed = latest.get(ind)
                if value is None or computed is None or as_utc(at) != as_utc(computed):
                    continue
                if key == district:
                    local[ind] = value
                else:
                    below.setdefault(ind, {})[key[len(district) + len(SEP):]] = value
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r.theme, []).append({
                "name": r.name, "title_zh": r.title_zh, "title_en": r.title_en, "unit": r.unit, "value": r.value,
                "state": r.state, "stale": r.stale, "iso_code": r.iso_code, "target": r.target,
                "computed_at": as_utc(r.computed_at).isoformat() if r.computed_at else None,
                "district_value": local.get(r.id), "streets": below.get(r.id),
                "spark": (spark.get(r.id) or [])[-SPARK_POINTS:]})
    order = [t for t in wanted if t in groups] + sorted(t for t in groups if t not in wanted)
    return [{"theme": t, "indicators": groups[t]} for t in order]


def health(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The city-health summary: lights counted, and a score (share of indicators with a light that are green)."""
    counts = {"ok": 0, "warn": 0, "alarm": 0, "unknown": 0}
    per_theme = {}
    for g in groups:
        lights = [i["state"] for i in g["indicators"]]
        for light in lights:
            counts[light if light in counts else "unknown"] += 1
        judged = [x for x in lights if x in ("ok", "warn", "alarm")]
        per_theme[g["theme"]] = round(100.0 * judged.count("ok") / len(judged), 1) if judged else None
    judged_all = counts["ok"] + counts["warn"] + counts["alarm"]
    score = round(100.0 * counts["ok"] / judged_all, 1) if judged_all else None
    return {"score": score, "counts": counts, "themes": per_theme}


def sensor_points(by: Principal, open_alerts: list[dict[str, Any]], now: datetime | None = None
                  ) -> list[dict[str, Any]]:
    """Live devices the user may see, coloured: alarm (an open alert), silent (not heard lately), ok."""
    from urbanbrain.stream.service import live_state

    now = now or utcnow()
    alarmed = {str(a.get("device_id") or a.get("device")) for a in open_alerts}
    out = []
    for d in live_state(by, limit=MAX_POINTS):
        if d["lon"] is None or d["lat"] is None:
            continue
        seen = datetime.fromisoformat(d["last_seen"])
        state = "alarm" if d["device_id"] in alarmed else ("silent" if now - seen > SILENT_AFTER else "ok")
        out.append({"id": f"s:{d['feed']}:{d['device_id']}", "lon": d["lon"], "lat": d["lat"], "state": state,
                    "label": f"{d['device_id']} ({d['type']})", "layer": "sensors"})
    return out


def case_state(case: dict[str, Any], now: datetime) -> str:
    """A case's SLA light: overdue, warning (inside the warning window), ok."""
    due, warn = case.get("resolve_due_at"), case.get("resolve_warn_at")
    if case.get("resolve_overdue_at") or (due and datetime.fromisoformat(due) <= now):
        return "overdue"
    if case.get("resolve_warned_at") or (warn and datetime.fromisoformat(warn) <= now):
        return "warning"
    return "ok"


def case_points(by: Principal, now: datetime | None = None, limit: int = 5000) -> list[dict[str, Any]]:
    from urbanbrain.operate.cases import list_cases

    now = now or utcnow()
    try:
        cases = list_cases(by, status="open", limit=limit, now=now)
    except PermissionDeniedError:
        return []
    return [{"id": f"c:{c['id']}", "lon": c["lon"], "lat": c["lat"], "state": case_state(c, now),
             "label": f"{c.get('title') or c.get('category') or c['id']}", "layer": "cases",
             "district": c.get("district")} for c in cases if c.get("lon") is not None and c.get("lat") is not None]


def ranking(by: Principal) -> list[dict[str, Any]]:
    """Departments by on-time closure (the caller's view: all for the operations centre)."""
    from urbanbrain.meta.departments import department_names
    from urbanbrain.operate import stats

    try:
        rows = stats.departments(by)
    except UrbanBrainError:
        return []
    names = department_names()
    for r in rows:  # the wall shows departments by name (长沙市交通运输局), not by code
        r["name"] = names.get(r["department"], r["department"])
    return rows


def open_alerts(by: Principal, limit: int = 200) -> list[dict[str, Any]]:
    from urbanbrain.stream.alerts import list_alerts

    try:
        return list_alerts(by, status="open", limit=limit)
    except UrbanBrainError:
        return []


def indicator_alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Indicators on warn or alarm now, as ticker lines (their alerts went out on the bus when they turned)."""
    out = []
    for g in groups:
        for i in g["indicators"]:
            if i["state"] in ("warn", "alarm"):
                value = "—" if i["value"] is None else f"{i['value']:g}{i['unit']}"
                out.append({"rule": f"indicator:{i['name']}", "severity": i["state"], "raised_at": i["computed_at"],
                            "message": f"{i['title_zh'] or i['title_en'] or i['name']}: {value}"})
    return sorted(out, key=lambda a: a["severity"] != "alarm")


def screen_facilities(by: Principal, screen: str = DEFAULT_SCREEN, lang: str = "zh-CN") -> dict[str, Any]:
    """The facilities layer of a screen as `by` may see it (`operate.ioc_facilities.facilities`: points and
    "n of m located"); empty when the screen does not show the layer."""
    if "facilities" not in get_screen(screen)["layers"]:
        return {"points": [], "sources": [], "total": 0, "located": 0}
    from urbanbrain.operate.ioc_facilities import facilities

    return facilities(by, lang=lang)


def snapshot(by: Principal, screen: str = DEFAULT_SCREEN, district: str | None = None, lang: str = "zh-CN",
             *, with_facilities: bool = True) -> dict[str, Any]:
    """Everything the screen draws on first paint, as the user may see it (then SSE keeps it current).

    `with_facilities=False` leaves the facilities layer out (`facilities: null`): the wall paints first and
    fetches them after (`GET /api/ioc/facilities`), since reading and placing hundreds of facilities is
    the slowest part of a snapshot."""
    from urbanbrain.operate.cases import list_cases

    config = get_screen(screen)
    now = utcnow()
    groups = tiles(config, district)
    alerts = open_alerts(by) if "alerts" in config["layers"] or "sensors" in config["layers"] else []
    points: list[dict[str, Any]] = []
    if "sensors" in config["layers"]:
        points += sensor_points(by, alerts, now)
    if "cases" in config["layers"]:
        points += case_points(by, now)
    fac: dict[str, Any] | None = None
    if "facilities" in config["layers"] and with_facilities:
        from urbanbrain.operate.ioc_facilities import facilities

        fac = facilities(by, lang=lang)
        points += fac["points"]
    try:
        recent = list_cases(by, limit=10, now=now)
    except PermissionDeniedError:
        recent = []
    shown = (indicator_alerts(groups) + alerts)[:20] if "alerts" in config["layers"] else []
    return {"screen": config, "district": district, "generated_at": now.isoformat(), "tiles": groups,
            "health": health(groups), "points": points, "alerts": shown,
            "facilities": {k: v for k, v in fac.items() if k != "points"} if fac is not None else None,
            "ranking": ranking(by), "cases": [{"id": c["id"], "title": c.get("title"), "category": c.get("category"),
                                                 "district": c.get("district"), "status": c["status"],
                                                 "created_at": c["created_at"]} for c in recent]}
