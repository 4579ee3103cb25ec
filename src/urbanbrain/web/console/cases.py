"""`/cases`: the dispatcher's inbox, a department's queue, a case page (timeline, SLA clocks, actions)
and the statistics page. Every button posts to one transition service call with the version shown,
so acting on a stale page is refused (409) instead of overwriting someone else's decision."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.govern.authz import allowed
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()
VIEWS = ("inbox", "queue", "overdue", "all")


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, principal: CurrentPrincipal, view: str = "") -> HTMLResponse:
    from urbanbrain.operate.cases import list_cases
    from urbanbrain.operate.states import ops_department

    dispatcher = allowed("case.dispatch", principal, ops_department())
    view = view if view in VIEWS else ("inbox" if dispatcher else "queue")
    if view == "inbox":
        rows = [c for c in list_cases(principal, status="open", limit=500) if c["status"] in ("new", "returned")]
    elif view == "queue":
        rows = [c for c in list_cases(principal, status="open", limit=500) if c["status"] not in ("new", "returned")]
    elif view == "overdue":
        rows = list_cases(principal, overdue=True, limit=500)
    else:
        rows = list_cases(principal, limit=500)
    return page(request, "cases.html", {"cases": rows, "view": view, "views": VIEWS, "dispatcher": dispatcher})


@router.get("/cases/stats", response_class=HTMLResponse)
def stats_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
    from urbanbrain.operate import stats

    return page(request, "case_stats.html", {
        "summary": stats.summary(principal), "departments": stats.departments(principal),
        "volume": stats.volume(principal, group="category", bucket="day"), "hot_spots": stats.hot_spots(principal)})


def _clock(case: dict[str, Any], name: str) -> dict[str, Any]:
    from urbanbrain.core.clock import utcnow

    due = case.get(f"{name}_due_at")
    done = case.get("responded_at" if name == "respond" else "resolved_at")
    state = "none"
    if due:
        reference = done or utcnow().isoformat()
        state = ("met" if done else "running") if reference <= due else "overdue"
        if not done and state == "running" and case.get(f"{name}_warned_at"):
            state = "warning"
    return {"name": name, "due": due, "done": done, "state": state}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, principal: CurrentPrincipal) -> HTMLResponse:
    from urbanbrain.operate.attachments import max_bytes
    from urbanbrain.operate.cases import get_case
    from urbanbrain.operate.catalogue import list_rules
    from urbanbrain.operate.states import TRANSITIONS, ops_department

    case = get_case(case_id, principal)
    actions = [a for a in case["actions"]
               if allowed(f"case.{a}", principal, ops_department() if TRANSITIONS[a].by_ops or not case["department"]
                          else case["department"])]
    departments = sorted({r["department"] for r in list_rules()})
    return page(request, "case.html", {"case": case, "actions": actions, "departments": departments,
                                       "clocks": [_clock(case, "respond"), _clock(case, "resolve")],
                                       "map_points": _map_points(case, principal),
                                       "upload_mb": f"{max_bytes() / (1024 * 1024):g}"})


def _map_points(case: dict[str, Any], principal: Any) -> list[dict[str, Any]]:
    """The case's point and the open cases around it (duplicates marked), for static/citymap.js."""
    from urbanbrain.operate.dispatch import nearby

    if case.get("lon") is None or case.get("lat") is None:
        return []
    points = [{"id": case["id"], "lon": case["lon"], "lat": case["lat"], "state": "self",
               "label": f"{case['id']} · {case.get('category') or ''}"}]
    for n in nearby(case, principal):
        points.append({"id": n["id"], "lon": n["lon"], "lat": n["lat"], "state": "duplicate" if n["duplicate"]
                       else "nearby", "label": f"{n['id']} · {n['category'] or ''} · {n['status']} · {n['metres']} m",
                       "href": f"/cases/{n['id']}"})
    return points


@router.post("/cases/{case_id}/feedback")
async def feedback(case_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """The feedback form: a note and photos (multipart), through the same upload path as the API."""
    from starlette.concurrency import run_in_threadpool

    from urbanbrain.operate.cases import transition
    from urbanbrain.web.console.render import form_fields
    from urbanbrain.web.uploads import feedback as with_photos
    from urbanbrain.web.uploads import is_multipart

    if is_multipart(request.headers.get("content-type", "")):
        await with_photos(request, case_id, principal)
    else:
        form = await form_fields(request)
        version = int(form["version"]) if form.get("version", "").isdigit() else None
        await run_in_threadpool(lambda: transition(case_id, "feedback", principal, version=version,
                                                   note=form.get("note", "")))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/{action}")
def act(case_id: str, action: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    from urbanbrain.operate.cases import transition

    params: dict[str, Any] = {k: v for k, v in form.items() if k in ("department", "reason", "note", "into") and v}
    if form.get("satisfaction", "").isdigit():
        params["satisfaction"] = int(form["satisfaction"])
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    transition(case_id, action, principal, version=version, **params)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
