"""`/usage`: calls per capability and per consuming department, and the reuse figure.

Reuse — how many departments other than the owner call a capability — is the number that says whether
the capability center is doing its job (one department's work serving others), so the table is sorted
by it. The figures come from `metering.usage_stats`, which flushes buffered calls first; the charts'
data is embedded in the page, drawn by `static/usage.js`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.capability.metering import usage_stats
from urbanbrain.web.console.render import page

router = APIRouter(prefix="/usage")


@router.get("", response_class=HTMLResponse)
def usage(request: Request) -> HTMLResponse:
    return page(request, "usage.html", {"stats": usage_stats()})
