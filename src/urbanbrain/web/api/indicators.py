"""`/api/indicators`: the city's vital signs — list, one with its history, define, compute.

Every route is one service call; reads are open to every signed-in caller (an indicator is a
published aggregate), writes are authorised by the service against the indicator's owner.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["indicators"])


class IndicatorDefine(BaseModel):
    name: str
    sql: str = ""
    function: str | None = None  # a registered indicator function instead of SQL
    department: str
    title_zh: str = ""
    title_en: str = ""
    unit: str = ""
    theme: str = "general"
    direction: str = "up"
    breakdown: str | None = None
    target: str | None = None
    warn: str | None = None
    alarm: str | None = None
    schedule: str | None = None
    iso_code: str | None = None
    replace: bool = False


@router.get("/indicators")
def list_indicators(theme: str | None = None, dept: str | None = None) -> list[dict[str, Any]]:
    from urbanbrain.operate import indicators

    return indicators.list_indicators(theme, dept)


@router.get("/indicators/{name}")
def get_indicator(name: str, key: str | None = None, since: str | None = None) -> dict[str, Any]:
    from urbanbrain.operate import indicators

    return indicators.get_indicator(name, key=key, since=indicators.parse_since(since))


@router.post("/indicators", status_code=201)
def define_indicator(body: IndicatorDefine, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate import indicators

    fields = body.model_dump()
    name = fields.pop("name")
    return indicators.define_indicator(principal, name, **fields)


@router.post("/indicators/{name}/compute")
def compute_indicator(name: str, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate import indicator_compute

    return indicator_compute.compute(name, principal)


@router.delete("/indicators/{name}", status_code=204)
def delete_indicator(name: str, principal: CurrentPrincipal) -> Response:
    from urbanbrain.operate import indicators

    indicators.delete_indicator(principal, name)
    return Response(status_code=204)
