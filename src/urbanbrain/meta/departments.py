"""Service functions for departments: the one place these operations live (API, CLI, demo call them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from urbanbrain.core.naming import sql_identifier, validate_code
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Department, System
from urbanbrain.meta.schemas import DepartmentPublic

if TYPE_CHECKING:
    from urbanbrain.govern.principals import Principal


def _public(session: Session, dept: Department) -> DepartmentPublic:
    count = session.scalar(select(func.count()).select_from(System).where(System.department_id == dept.id))
    return DepartmentPublic(id=dept.id, code=dept.code, name=dept.name, created_at=dept.created_at,
                            systems=int(count or 0))


def add_department(name: str, code: str, *, by: Principal | None = None) -> DepartmentPublic:
    """Register a department; its code becomes the first part of every dataset name it owns."""
    from urbanbrain.govern.authz import acting, authorize, record  # meta sits below govern

    by = acting(by)
    authorize("department.create", by)
    validate_code(code, "department code")
    if not name.strip():
        raise ValidationError("department name must not be empty")
    ident = sql_identifier(code)
    with session_scope() as s:
        clash = s.scalar(select(Department).where(Department.code == ident))
        if clash:
            raise AlreadyExistsError(
                f"department code {code!r} is already used by {clash.name!r}",
                hint="choose another --code or use the existing department",
            )
        dept = Department(code=ident, name=name.strip())
        s.add(dept)
        s.flush()
        public = _public(s, dept)
    record(by, "department.create", f"department:{public.code}", {"name": public.name})
    return public


def get_department_row(session: Session, code: str) -> Department:
    dept = session.scalar(select(Department).where(Department.code == sql_identifier(code)))
    if dept is None:
        raise NotFoundError(f"no department with code {code!r}",
                            hint="list them with `urbanbrain dept list` or add it with `urbanbrain dept add`")
    return dept


def get_department(code: str) -> DepartmentPublic:
    with session_scope() as s:
        return _public(s, get_department_row(s, code))


def list_departments() -> list[DepartmentPublic]:
    with session_scope() as s:
        return [_public(s, d) for d in s.scalars(select(Department).order_by(Department.code))]


_NAMES: tuple[float, str, dict[str, str]] | None = None
NAMES_SECONDS = 5.0


def department_names() -> dict[str, str]:
    """Code -> name, cached for a few seconds: pages show a department by its name (长沙市交通运输局, not
    `transport`) in every table row, which must not cost a query per row. Names are public to any user."""
    global _NAMES
    import time

    from urbanbrain.meta.db import metadata_url

    url = metadata_url()
    now = time.monotonic()
    if _NAMES is None or _NAMES[1] != url or now - _NAMES[0] > NAMES_SECONDS:
        with session_scope() as s:
            _NAMES = (now, url, {code: name for code, name in s.execute(select(Department.code, Department.name))})
    return _NAMES[2]
