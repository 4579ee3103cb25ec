"""`/systems`: departments and their systems, health, last sync, and "sync now" with a polling row."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.connect.systems import authorize_on_system, get_system, list_objects, list_systems
from urbanbrain.lake.datasets import list_datasets
from urbanbrain.meta.departments import list_departments
from urbanbrain.sync.runs import list_runs
from urbanbrain.web.console.jobs import SyncJobs
from urbanbrain.web.console.render import is_htmx, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/systems")


def _jobs(request: Request) -> SyncJobs:
    jobs: SyncJobs = request.app.state.sync_jobs
    return jobs


@router.get("", response_class=HTMLResponse)
def systems(request: Request, dept: str | None = None) -> HTMLResponse:
    return page(request, "systems.html", {
        "departments": list_departments(), "dept": dept or "", "systems": list_systems(dept or None),
        "jobs": _jobs(request).snapshot(),
    })


@router.get("/{name}", response_class=HTMLResponse)
def system_detail(request: Request, name: str) -> HTMLResponse:
    system = get_system(name)
    return page(request, "system.html", {
        "s": system, "objects": list_objects(name), "runs": list_runs(system=name, limit=20),
        "datasets": list_datasets(system=name), "job": _jobs(request).get(name),
    })


@router.get("/{name}/row", response_class=HTMLResponse)
def system_row(request: Request, name: str) -> HTMLResponse:
    """The row of one system, polled every 2 s by the page while its sync job is queued or running."""
    return page(request, "_system_row.html", {"s": get_system(name), "job": _jobs(request).get(name)})


@router.post("/{name}/sync")
def sync_now(request: Request, name: str, principal: CurrentPrincipal) -> Response:
    """Queue a sync and answer at once; HTMX gets the (polling) row, a plain form post goes back to the page.
    The right to sync is checked here, before queueing, and again by the job as the same principal."""
    system = get_system(name)
    authorize_on_system("sync.run", name, principal)
    job = _jobs(request).start(name, by=principal)
    if is_htmx(request):
        return page(request, "_system_row.html", {"s": system, "job": job})
    back = request.headers.get("referer") or ""
    target = f"/systems/{name}" if back.rstrip("/").endswith(f"/systems/{name}") else "/systems"
    return RedirectResponse(target, status_code=303)
