"""`/`: the city at a glance — headline figures and charts from `city_overview()`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.meta.overview import city_overview
from urbanbrain.web.console.render import page

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    return page(request, "overview.html", {"ov": city_overview()})
