"""`/api/departments`: who owns systems; each route is one service call."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from urbanbrain.meta import departments as svc
from urbanbrain.meta.schemas import DepartmentPublic
from urbanbrain.web.api.bounds import NewCode, PathName, Title
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/departments", tags=["departments"])


class DepartmentCreate(BaseModel):
    name: Title = Field(min_length=1, description="Full name, e.g. Market Regulation.", examples=["Market Regulation"])
    code: NewCode = Field(description="Short code that prefixes dataset names.", examples=["market"])


@router.get("")
def list_departments() -> list[DepartmentPublic]:
    return svc.list_departments()


@router.post("", status_code=201)
def create_department(body: DepartmentCreate, principal: CurrentPrincipal) -> DepartmentPublic:
    return svc.add_department(body.name, body.code, by=principal)


@router.get("/{code}")
def get_department(code: PathName) -> DepartmentPublic:
    return svc.get_department(code)
