"""`/api/cases`: the closed loop over HTTP; each route is one service call as the signed-in principal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from urbanbrain.core.errors import MalformedRequestError
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/api", tags=["cases"])


class CaseCreate(BaseModel):
    description: str = Field(min_length=1, max_length=5000, examples=["五一大道100号路灯不亮"])
    category: str | None = None
    priority: str = "normal"
    title: str = ""
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    reporter: str | None = None
    contact: str | None = None
    source_ref: str | None = Field(None, description="The channel's own id: posting it twice makes one case.")


class CaseAction(BaseModel):
    version: int | None = Field(None, description="The version you acted on; refused with 409 when stale.")
    department: str | None = None
    reason: str | None = None
    note: str | None = None
    satisfaction: int | None = None
    into: str | None = None


class RuleSet(BaseModel):
    category: str
    department: str
    district: str = "*"


class SlaSet(BaseModel):
    category: str = "*"
    priority: str = "*"
    respond: str = Field(examples=["1h"])
    resolve: str = Field(examples=["5d"])
    working_hours: bool = False


@router.get("/cases")
def list_cases(principal: CurrentPrincipal, status: str | None = None, department: str | None = None,
               category: str | None = None, overdue: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    from urbanbrain.operate.cases import list_cases as svc

    return svc(principal, status=status, department=department, category=category, overdue=overdue,
               limit=min(limit, 1000))


@router.post("/cases", status_code=201)
def create_case(body: CaseCreate, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate.intake.base import channel, submit

    case, _ = submit(channel("form").to_report(body.model_dump()), principal)
    return case


@router.get("/cases/{case_id}")
def get_case(case_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate.cases import get_case as svc

    return svc(case_id, principal)


_FEEDBACK_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["note"], "properties": {
        "note": {"type": "string", "description": "What was done."},
        "version": {"type": "integer", "description": "The version you acted on; refused with 409 when stale."},
        "photos": {"type": "array", "items": {"type": "string", "format": "binary"},
                   "description": "JPEG, PNG, GIF or WebP photos, each at most URBANBRAIN_UPLOAD_MAX_BYTES "
                                  "(10 MB); 413 as soon as one is larger, and nothing changes."}}}},
    "application/json": {"schema": {"$ref": "#/components/schemas/CaseAction"}}}}}


@router.post("/cases/{case_id}/feedback", openapi_extra=_FEEDBACK_BODY)
async def feedback(case_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Report back: notes and photos as multipart/form-data (or a note alone as JSON, like every action)."""
    from starlette.concurrency import run_in_threadpool

    from urbanbrain.operate.cases import transition
    from urbanbrain.web.uploads import feedback as with_photos
    from urbanbrain.web.uploads import is_multipart

    if is_multipart(request.headers.get("content-type", "")):
        return await with_photos(request, case_id, principal)
    try:
        body = CaseAction.model_validate_json(await request.body())
    except ValueError as exc:
        raise MalformedRequestError(f"the body is not a case action: {exc}",
                                    hint="send JSON {note, version} or multipart/form-data with photos") from None
    return await run_in_threadpool(lambda: transition(case_id, "feedback", principal, version=body.version,
                                                      note=body.note or ""))


@router.get("/cases/{case_id}/attachments/{attachment_id}", response_class=Response,
            responses={200: {"content": {t: {} for t in ("image/jpeg", "image/png", "image/gif", "image/webp")}}})
def attachment(case_id: str, attachment_id: str, principal: CurrentPrincipal) -> Response:
    """One photo of a case, for whoever may see the case (audited)."""
    from urbanbrain.operate.attachments import open_attachment
    from urbanbrain.web.uploads import attachment_response

    return attachment_response(open_attachment(case_id, attachment_id, principal))


@router.post("/cases/{case_id}/{action}")
def act(case_id: str, action: str, body: CaseAction, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate.cases import transition

    params = {k: v for k, v in body.model_dump().items() if k != "version" and v is not None}
    return transition(case_id, action, principal, version=body.version, **params)


@router.get("/dispatch-rules")
def rules() -> list[dict[str, str]]:
    from urbanbrain.operate.catalogue import list_rules

    return list_rules()


@router.put("/dispatch-rules")
def set_rule(body: RuleSet, principal: CurrentPrincipal) -> dict[str, str]:
    from urbanbrain.operate.catalogue import set_rule as svc

    m = svc(principal, body.category, body.department, body.district)
    return {"category": m.category, "district": m.district, "department": m.department}


@router.put("/sla-policies")
def set_sla(body: SlaSet, principal: CurrentPrincipal) -> dict[str, Any]:
    from dataclasses import asdict

    from urbanbrain.operate.sla import set_policy

    return asdict(set_policy(principal, body.category, respond=body.respond, resolve=body.resolve,
                             priority=body.priority, working_hours=body.working_hours))


@router.get("/case-stats")
def stats(principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate import stats as svc

    return {"summary": svc.summary(principal), "departments": svc.departments(principal),
            "volume": svc.volume(principal, group="category", bucket="day"), "hot_spots": svc.hot_spots(principal)}
