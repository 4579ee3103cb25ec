"""`/datasets`: search the lake's datasets; one dataset's schema, preview, freshness and lineage."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.authz import allowed
from urbanbrain.govern.classification import CONDITIONAL, LEVELS, get_classification
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult, lineage, preview
from urbanbrain.lake.datasets import get_dataset, list_datasets
from urbanbrain.meta.departments import list_departments
from urbanbrain.web.console.dataset_apis import page_context
from urbanbrain.web.console.render import is_htmx, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/datasets")
PREVIEW_ROWS = 20


@router.get("", response_class=HTMLResponse)
def datasets(request: Request, q: str | None = None, dept: str | None = None) -> HTMLResponse:
    found = list_datasets(search=q or None, dept=dept or None)
    context = {"datasets": found, "q": q or "", "dept": dept or ""}
    if is_htmx(request):  # live search swaps only the results
        return page(request, "_dataset_results.html", context)
    return page(request, "datasets.html", {**context, "departments": list_departments()})


@router.get("/{name}", response_class=HTMLResponse)
def dataset_detail(request: Request, name: str, principal: CurrentPrincipal) -> HTMLResponse:
    ds = get_dataset(name)
    rows: QueryResult | None = None
    problem: UrbanBrainError | None = None
    try:
        rows = preview(name, PREVIEW_ROWS, principal=principal)
    except UrbanBrainError as exc:  # the record exists but its table cannot be read: show the page anyway
        problem = exc
    fields = {f.column: f for f in get_classification(name)[1]}
    return page(request, "dataset.html", {"ds": ds, **page_context(ds, principal),
                                          "lineage": lineage(name, principal=principal), "preview": rows,
                                          "problem": problem,
                                          "fields": fields, "levels": LEVELS,
                                          "shareable": [c for c, f in fields.items() if f.level == CONDITIONAL],
                                          "request_departments": request_departments(principal, ds.department)})


def request_departments(principal: Principal | None, owner: str) -> list[str]:
    """The departments `principal` may ask `owner` for fields on behalf of (none for the owner itself)."""
    if principal is None or principal.is_platform_admin:
        return []
    return sorted(d for d in principal.departments if d != owner and allowed("share.request", principal, d))
