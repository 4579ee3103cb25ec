"""`/link`: the steward's review queue of uncertain pairs per entity kind, with approve/reject buttons,
and each registry's size. Decisions are made as `current_principal` through `link.review.decide`, the
same service the CLI calls, so the same steward check applies; later runs apply them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.link import review, service
from urbanbrain.link.mapping import KINDS, check_kind
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()
SHOWN = 200  # the queue is sorted by probability; a steward works from the top


@router.get("/link", response_class=HTMLResponse)
def link_page(request: Request, kind: str = "person") -> HTMLResponse:
    check_kind(kind)
    rows = review.queue(kind, None)
    pending = [r for r in rows if r["status"] == "pending"]
    decided = [r for r in rows if r["status"] != "pending"][:50]
    return page(request, "link.html", {"kind": kind, "kinds": KINDS, "status": service.status(kind),
                                       "pending": pending[:SHOWN], "pending_total": len(pending), "decided": decided})


@router.post("/link/{kind}/decide")
def decide(kind: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    review.decide(check_kind(kind), form.get("pair_id", ""), form.get("decision", ""), by=principal)
    return RedirectResponse(f"/link?kind={kind}", status_code=303)
