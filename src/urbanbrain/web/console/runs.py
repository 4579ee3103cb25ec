"""`/runs`: sync-run history with rows read/written/rejected; one run's per-object outcome."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.sync.runs import get_run, list_runs
from urbanbrain.web.console.render import page

router = APIRouter(prefix="/runs")
RUN_STATUSES = ("running", "succeeded", "succeeded_with_rejects", "partial", "failed", "abandoned")


@router.get("", response_class=HTMLResponse)
def runs(request: Request, system: str | None = None, status: str | None = None) -> HTMLResponse:
    found = list_runs(system=system or None, status=status or None, limit=200)
    return page(request, "runs.html", {"runs": found, "system": system or "", "status": status or "",
                                       "statuses": RUN_STATUSES})


@router.get("/{run_id}", response_class=HTMLResponse)
def run_detail(request: Request, run_id: str) -> HTMLResponse:
    return page(request, "run.html", {"run": get_run(run_id)})
