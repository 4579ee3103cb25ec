"""`/link`: the steward's review queue of uncertain pairs per entity kind, with approve/reject buttons,
and each registry's size. Decisions are made as `current_principal` through `link.review.decide`, the
same service the CLI calls, so the same steward check applies; later runs apply them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.core.errors import NotFoundError, UrbanBrainError
from urbanbrain.govern.query import QueryResult, run_query
from urbanbrain.link import kinds, mapping, review, service
from urbanbrain.link.golden import attributes_of
from urbanbrain.link.mapping import KINDS, check_kind
from urbanbrain.link.store import dataset_name
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()
SHOWN = 200  # the queue is sorted by probability; a steward works from the top
FOUND = 50


def _golden_columns(kind: str) -> list[str]:
    return ["entity_id", "record_count", *attributes_of(kind)]


def search_entities(kind: str, q: str, principal: CurrentPrincipal) -> QueryResult:
    """Entities whose ID, name or address contains `q`, read as the caller through the lake's policy: a
    masked column is searched and shown masked, so the search reveals nothing the caller may not see."""
    searchable = [c for c in ("name", "address") if c in attributes_of(kind)]
    where = " OR ".join(["entity_id = $q", *(f"{c} ILIKE '%' || $q || '%'" for c in searchable)])
    columns = ", ".join(_golden_columns(kind))
    return run_query(f"SELECT {columns} FROM {dataset_name(kind, 'golden')} WHERE {where} ORDER BY entity_id",
                     max_rows=FOUND, params={"q": q.strip()}, principal=principal)


@router.get("/link", response_class=HTMLResponse)
def link_page(request: Request, principal: CurrentPrincipal, kind: str = "person", q: str = "") -> HTMLResponse:
    check_kind(kind)
    rows = review.queue(kind, None)
    pending = [r for r in rows if r["status"] == "pending"]
    decided = [r for r in rows if r["status"] != "pending"][:50]
    found: QueryResult | None = None
    problem: UrbanBrainError | None = None
    if q.strip():
        try:
            found = search_entities(kind, q, principal)
        except UrbanBrainError as exc:  # e.g. the registry is not built yet, or nothing of it is visible
            problem = exc
    return page(request, "link.html", {"kind": kind, "kinds": KINDS, "status": service.status(kind),
                                       "pending": pending[:SHOWN], "pending_total": len(pending), "decided": decided,
                                       "q": q, "found": found, "problem": problem, "all_kinds": kinds.all_kinds(),
                                       "types": kinds.COMPARISON_TYPES, "modes": kinds.MODES,
                                       "mappings": mapping.load_mappings(kind)})


@router.get("/link/entities/{entity_id}", response_class=HTMLResponse)
def entity_page(request: Request, entity_id: str, principal: CurrentPrincipal) -> HTMLResponse:
    """One golden record and the source records it was built from (each a link to its dataset)."""
    kind = service.kind_of(entity_id)
    golden = run_query(f"SELECT * FROM {dataset_name(kind, 'golden')} WHERE entity_id = $id", max_rows=1,
                       params={"id": entity_id}, principal=principal)
    if golden.table.num_rows == 0:
        raise NotFoundError(f"no {kind} entity {entity_id}", hint="search for it on the One ID page")
    record = golden.table.to_pylist()[0]
    attributes = [(a, record.get(a), record.get(f"{a}_source"), record.get(f"{a}_date")) for a in attributes_of(kind)]
    sources = run_query(f"SELECT source_dataset, record_key, match_probability FROM {dataset_name(kind, 'xref')} "
                        "WHERE entity_id = $id ORDER BY source_dataset, record_key", max_rows=500,
                        params={"id": entity_id}, principal=principal)
    return page(request, "link_entity.html", {"kind": kind, "entity_id": entity_id, "record": record,
                                              "attributes": attributes, "sources": sources.table.to_pylist()})


@router.post("/link/kinds")
def define(form: FormFields, principal: CurrentPrincipal) -> Response:
    """A steward defines a kind: name, fields (name=TYPE, comma or line separated), prefix, mode."""
    name = form.get("name", "").strip()
    kinds.define_kind(name, kinds.parse_fields(form.get("fields", "")), prefix=form.get("prefix", "").strip() or None,
                      mode=form.get("mode", "dedupe") or "dedupe", by=principal)
    return RedirectResponse(f"/link?kind={name}", status_code=303)


@router.post("/link/{kind}/mappings")
def map_columns(kind: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    """Map a dataset's columns to the kind's fields (field=column lines), or keep the proposal from its
    data ("propose"): the same service functions as `urbanbrain link map KIND DATASET [-c ...]`."""
    check_kind(kind)
    dataset, key = form.get("dataset", "").strip(), form.get("key", "").strip() or None
    items = [line.strip() for line in form.get("columns", "").splitlines() if line.strip()]
    if form.get("action") == "propose" or not items:
        mapping.propose_and_save(kind, dataset, key, by=principal)
    else:
        mapping.override(kind, dataset, items, key=key, by=principal)
    return RedirectResponse(f"/link?kind={kind}#mappings", status_code=303)


@router.post("/link/{kind}/decide")
def decide(kind: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    review.decide(check_kind(kind), form.get("pair_id", ""), form.get("decision", ""), by=principal)
    return RedirectResponse(f"/link?kind={kind}", status_code=303)
