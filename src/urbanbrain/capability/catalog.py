"""The capability catalog: register, publish, approve, deprecate, list and show capabilities.

A capability is released by its owning department: built-ins shipped with urbanbrain are published
at once (`publish_builtins`), while data APIs and proxies start as drafts and go live only when the
owning department approves them (`approve_capability`), because releasing data is that department's
decision. Every kind validates its implementation at registration, so a broken SQL template fails
when it is published, not on a caller's first request.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.capability.base import BUILTINS, KINDS, BuiltinSpec, CapabilityDefinition
from urbanbrain.capability.cache import invalidate
from urbanbrain.capability.params import OBJECT_SCHEMA, compile_schema
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, UrbanBrainError, ValidationError
from urbanbrain.core.secrets import encrypt
from urbanbrain.govern.authz import acting, authorize, check_claimed_department, record
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import get_department_row
from urbanbrain.meta.models import Capability, Department
from urbanbrain.meta.schemas import UTCDateTime

CATEGORIES = ("data_service", "spatial", "ai_model", "verification", "messaging", "analytics", "utility")
STATUSES = ("draft", "published", "deprecated")
NAME = re.compile(r"^[a-z][a-z0-9_]{1,119}$")
BIGDATA = ("bigdata", "长沙市数据资源局 / Data Resources Bureau")


class CapabilitySpec(BaseModel):
    """What a department submits to register a capability (a JSON/YAML file, the API, or code)."""

    # bounds as the metadata columns (a longer value would fail in the database, not here)
    name: str = Field(min_length=1, max_length=120, description="lower_snake_case, unique with the version",
                      examples=["enterprise_by_credit_code"])
    version: int = Field(default=1, ge=1, le=1_000_000)
    title_zh: str = Field(default="", max_length=200)
    title_en: str = Field(default="", max_length=200)
    description_zh: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)
    category: str = Field(default="data_service", min_length=1, max_length=40)
    owner: str = Field(min_length=1, max_length=63, description="code of the owning department", examples=["market"])
    kind: str = Field(min_length=1, max_length=40, description="data_api | builtin | http_proxy (or a plugin's kind)")
    input_schema: dict[str, Any] = Field(default_factory=lambda: dict(OBJECT_SCHEMA), max_length=200)
    output_schema: dict[str, Any] = Field(default_factory=dict, max_length=200)
    implementation: dict[str, Any] = Field(default_factory=dict, max_length=200)
    secrets: dict[str, Any] | None = Field(default=None, max_length=200,
                                           description="stored encrypted, never shown again")


class CapabilityPublic(BaseModel):
    id: str
    name: str
    version: int
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    category: str
    owner: str
    owner_name: str
    status: str
    kind: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    implementation: dict[str, Any]
    approved_by: str | None
    created_at: UTCDateTime
    published_at: UTCDateTime | None

    @property
    def path(self) -> str:
        return f"/capabilities/{self.name}/v{self.version}/invoke"


def capability_public(cap: Capability) -> CapabilityPublic:
    return CapabilityPublic(
        id=cap.id, name=cap.name, version=cap.version, title_zh=cap.title_zh, title_en=cap.title_en,
        description_zh=cap.description_zh, description_en=cap.description_en, category=cap.category,
        owner=cap.department.code, owner_name=cap.department.name, status=cap.status, kind=cap.kind,
        input_schema=dict(cap.input_schema), output_schema=dict(cap.output_schema),
        implementation=dict(cap.implementation), approved_by=cap.approved_by, created_at=cap.created_at,
        published_at=cap.published_at,
    )


def _with_paging(spec: CapabilitySpec) -> dict[str, Any]:
    """Data APIs take `limit`/`offset`; say so in their schema so every client can page."""
    if spec.kind != "data_api":
        return spec.input_schema
    from urbanbrain.capability.kinds.data_api import PAGING_SCHEMA

    schema = {"type": "object", **spec.input_schema}
    schema["properties"] = {**PAGING_SCHEMA, **schema.get("properties", {})}
    return schema


def validate_spec(spec: CapabilitySpec) -> CapabilityDefinition:
    """Everything that can be checked before anyone calls: names, schemas, and the kind's own rules."""
    if not NAME.match(spec.name):
        raise ValidationError(f"capability name {spec.name!r} must be lower_snake_case (a-z, 0-9, _)",
                              hint="e.g. enterprise_by_credit_code")
    if spec.category not in CATEGORIES:
        raise ValidationError(f"unknown category {spec.category!r}", hint=f"choose one of: {', '.join(CATEGORIES)}")
    compile_schema(spec.input_schema)
    compile_schema(spec.output_schema or {}, "output schema")
    kind = KINDS.get(spec.kind)()
    definition = CapabilityDefinition(spec.name, spec.version, spec.kind, _with_paging(spec), spec.output_schema,
                                      spec.implementation, spec.secrets or {}, spec.owner.lower())
    kind.validate(definition)
    return definition


def register_capability(spec: CapabilitySpec, *, status: str = "draft", approver: str | None = None,
                        replace: bool = False, by: Principal | None = None) -> CapabilityPublic:
    """Validate and store a capability; drafts wait for `approve_capability` by the owning department.

    The owner named in the spec is where the caller must hold a role; registering straight into
    `published` also needs the right to approve there, and replacing needs the rights of the old owner."""
    by = acting(by)
    with session_scope() as s:
        owner = get_department_row(s, spec.owner).code
    authorize("capability.register", by, owner)
    if status == "published":
        authorize("capability.approve", by, owner)
    definition = validate_spec(spec)
    with session_scope() as s:
        dept = get_department_row(s, spec.owner)
        cap = s.scalar(select(Capability).where(Capability.name == spec.name, Capability.version == spec.version))
        if cap is not None and not replace:
            raise AlreadyExistsError(f"capability {spec.name} v{spec.version} already exists",
                                     hint="publish a new --version, or deprecate the old one")
        if cap is not None:
            authorize("capability.register", by, cap.department.code)
        if cap is None:
            cap = Capability(name=spec.name, version=spec.version)
            s.add(cap)
        cap.title_zh, cap.title_en = spec.title_zh or spec.title_en, spec.title_en or spec.name
        cap.description_zh, cap.description_en = spec.description_zh, spec.description_en
        cap.category, cap.department_id, cap.kind = spec.category, dept.id, spec.kind
        cap.input_schema, cap.output_schema = definition.input_schema, spec.output_schema
        cap.implementation = spec.implementation
        cap.implementation_secret = encrypt(spec.secrets) if spec.secrets else None
        cap.status = status
        if status == "published":
            cap.published_at, cap.approved_by = utcnow(), _approver(by, approver)
        s.flush()
        s.refresh(cap)
        invalidate(s)
        public = capability_public(cap)
    record(by, "capability.register", f"capability:{public.name} v{public.version}",
           {"owner": public.owner, "kind": public.kind, "status": public.status, "replace": replace})
    return public


def _approver(by: Principal, text: str | None) -> str:
    """Who approved, as recorded: the acting user, never a name the request made up (urbanbrain's own
    work may say more, e.g. "urbanbrain (shipped built-in)")."""
    return (text or by.label) if by.kind == "system" else by.label


def ensure_bigdata_department(session: Session) -> Department:
    """The data bureau owns the platform's own built-ins; a fresh city has it from the first publish."""
    dept = session.scalar(select(Department).where(Department.code == BIGDATA[0]))
    if dept is None:
        dept = Department(code=BIGDATA[0], name=BIGDATA[1])
        session.add(dept)
        session.flush()
    return dept


def builtin_capability_spec(spec: BuiltinSpec, registry_name: str) -> CapabilitySpec:
    return CapabilitySpec(
        name=spec.name, version=spec.version, title_zh=spec.title_zh, title_en=spec.title_en,
        description_zh=spec.description_zh, description_en=spec.description_en, category=spec.category,
        owner=spec.owner, kind="builtin", input_schema=spec.input_schema, output_schema=spec.output_schema,
        implementation={"builtin": registry_name},
    )


def publish_builtins(names: list[str] | None = None, *, by: Principal | None = None) -> dict[str, list[str]]:
    """Publish every registered built-in (or `names`), owned by its department; idempotent.

    Returns `{"published": [...], "reassigned": [...], "skipped": ["name: reason", ...]}`. A built-in
    names the department that would own it in a city like the demo's (`resources`, `hotline`, ...);
    where this city has no such department, the data bureau owns it instead, so a fresh install has
    every built-in — `reassigned` says which, and `urbanbrain capability publish --builtins` run again
    after the department is added hands it over. A plugin that fails to load is skipped with the reason
    rather than failing the others.
    """
    by = acting(by)
    authorize("capability.publish_builtins", by)
    with session_scope() as s:
        ensure_bigdata_department(s)
        departments = set(s.scalars(select(Department.code)))
    published: list[str] = []
    reassigned: list[str] = []
    skipped: list[str] = []
    for reg_name in names or BUILTINS.names():
        try:
            spec = BUILTINS.get(reg_name)
            if not isinstance(spec, BuiltinSpec):
                raise ValidationError("its entry point is not a BuiltinSpec")
            cap_spec = builtin_capability_spec(spec, reg_name)
            if cap_spec.owner not in departments:
                reassigned.append(f"{spec.name}: owned by {BIGDATA[0]} (no department '{cap_spec.owner}' yet)")
                cap_spec = cap_spec.model_copy(update={"owner": BIGDATA[0]})
            register_capability(cap_spec, status="published", approver="urbanbrain (shipped built-in)", replace=True,
                                by=by)
            published.append(spec.name)
        except UrbanBrainError as exc:
            skipped.append(f"{reg_name}: {exc.message}")
    return {"published": published, "reassigned": reassigned, "skipped": skipped}


def _row(s: Session, name: str, version: int | None = None) -> Capability:
    query = select(Capability).where(Capability.name == name)
    if version is not None:
        query = query.where(Capability.version == version)
    cap = s.scalar(query.order_by(Capability.version.desc()).limit(1))
    if cap is None:
        where = f"{name} v{version}" if version is not None else name
        raise NotFoundError(f"no capability {where}", hint="list them with `urbanbrain capability list`")
    return cap


def get_capability(name: str, version: int | None = None) -> CapabilityPublic:
    """One capability (the newest version when `version` is None)."""
    with session_scope() as s:
        return capability_public(_row(s, name, version))


def set_status(name: str, version: int | None, status: str, *, approver: str | None = None,
               department: str | None = None, by: Principal | None = None) -> CapabilityPublic:
    """Publish (approve) or deprecate, as a steward or admin of the owning department (derived from the
    capability); `department`, when a request names one, must be that owner."""
    by = acting(by)
    action = "capability.approve" if status == "published" else "capability.deprecate"
    with session_scope() as s:
        cap = _row(s, name, version)
        owner = cap.department.code
        authorize(action, by, owner)
        check_claimed_department(by, department, owner)
        cap.status = status
        if status == "published":
            cap.approved_by = _approver(by, approver)
            cap.published_at = utcnow()
        invalidate(s)
        public = capability_public(cap)
    record(by, action, f"capability:{public.name} v{public.version}", {"owner": owner, "status": status})
    return public


def approve_capability(name: str, version: int | None = None, approver: str = "owner",
                       department: str | None = None, *, by: Principal | None = None) -> CapabilityPublic:
    """The owning department releases a draft: from now on it is in the OpenAPI and grants can be asked."""
    return set_status(name, version, "published", approver=approver, department=department, by=by)


def deprecate_capability(name: str, version: int | None = None, department: str | None = None, *,
                         by: Principal | None = None) -> CapabilityPublic:
    """Deprecated capabilities stay callable by existing grants but leave the OpenAPI and take no new grants."""
    return set_status(name, version, "deprecated", department=department, by=by)


def list_capabilities(category: str | None = None, department: str | None = None, status: str | None = None,
                      search: str | None = None, kind: str | None = None) -> list[CapabilityPublic]:
    """Filter by category, owning department code, status, kind; `search` matches name, titles and descriptions."""
    with session_scope() as s:
        query = select(Capability).join(Department).order_by(Capability.name, Capability.version)
        if category:
            query = query.where(Capability.category == category)
        if department:
            query = query.where(Department.code == department.lower())
        if status:
            query = query.where(Capability.status == status)
        if kind:
            query = query.where(Capability.kind == kind)
        rows = [capability_public(c) for c in s.scalars(query)]
    if search:
        needle = search.lower()
        rows = [c for c in rows if any(needle in t.lower() for t in (
            c.name, c.title_zh, c.title_en, c.description_zh, c.description_en, c.owner_name))]
    return rows


# What the catalog tells apart, in this order: shipped built-ins, data APIs a department released,
# indicators published as capabilities (a kind still to come: the filter is ready for it), proxies.
CATALOG_KINDS = ("builtin", "data_api", "indicator", "http_proxy")
PAGE_SIZE = 50


class CatalogPage(BaseModel):
    """One page of the catalog, with how many match in all and per kind (the kind filter aside)."""

    items: list[CapabilityPublic]
    total: int
    offset: int
    limit: int
    kinds: dict[str, int]


def catalog_page(category: str | None = None, department: str | None = None, status: str | None = None,
                 search: str | None = None, kind: str | None = None, *, offset: int = 0,
                 limit: int | None = PAGE_SIZE) -> CatalogPage:
    """The filtered catalog a page at a time (`limit=None`: all of it from `offset`); `kinds` counts every
    kind under the other filters, so the kind tabs say how many each would show."""
    offset = max(0, int(offset))
    rows = list_capabilities(category, department, status, search)
    kinds = {k: 0 for k in CATALOG_KINDS}
    for c in rows:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    if kind:
        rows = [c for c in rows if c.kind == kind]
    size = len(rows) if limit is None else max(1, min(int(limit), 500))
    return CatalogPage(items=rows[offset:offset + size], total=len(rows), offset=offset, limit=size, kinds=kinds)
