"""`/consumers`: applications by department; one application's API keys and grants.

A new key is shown once, in the answer to the "create key" post, and nowhere else: the page after it
(or any reload) lists only prefixes, because the service stores only a hash. That answer is marked
`no-store` so no cache keeps the plaintext either. Grant requests go to the owning department, which
decides them on `/grants`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from urbanbrain.capability.catalog import list_capabilities
from urbanbrain.capability.consumers import (
    NewApiKey,
    add_consumer,
    create_key,
    get_consumer,
    list_consumers,
    list_keys,
    revoke_key,
)
from urbanbrain.capability.grants import list_grants, request_grant
from urbanbrain.core.errors import ValidationError
from urbanbrain.meta.departments import list_departments
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/consumers")


def _count(form: dict[str, str], field: str, default: int | None) -> int | None:
    value = form.get(field, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValidationError(f"{field} must be a whole number", parameter=field)
    return int(value)


def _detail(request: Request, name: str, new_key: NewApiKey | None = None) -> HTMLResponse:
    context: dict[str, Any] = {
        "consumer": get_consumer(name), "keys": list_keys(name), "grants": list_grants(consumer=name),
        "capabilities": list_capabilities(status="published"), "new_key": new_key,
    }
    response = page(request, "consumer.html", context)
    if new_key is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", response_class=HTMLResponse)
def consumers(request: Request) -> HTMLResponse:
    return page(request, "consumers.html", {"consumers": list_consumers(), "departments": list_departments()})


@router.post("")
def add(form: FormFields, principal: CurrentPrincipal) -> RedirectResponse:
    consumer = add_consumer(form.get("name", "").strip(), form.get("department", "").strip(),
                            form.get("description", "").strip() or None, by=principal)
    return RedirectResponse(f"/consumers/{consumer.name}", status_code=303)


@router.get("/{name}", response_class=HTMLResponse)
def consumer_detail(request: Request, name: str) -> HTMLResponse:
    return _detail(request, name)


@router.post("/{name}/keys", response_class=HTMLResponse)
def new_key(request: Request, name: str, form: FormFields, principal: CurrentPrincipal) -> HTMLResponse:
    """Answer with the page itself (not a redirect): this response is the only place the key appears."""
    key = create_key(name, expires_days=_count(form, "expires_days", None), label=form.get("label", "").strip() or None,
                     by=principal)
    return _detail(request, name, key)


@router.post("/{name}/keys/{key_id}/revoke")
def revoke(name: str, key_id: str, principal: CurrentPrincipal) -> RedirectResponse:
    revoke_key(key_id, consumer=name, by=principal)
    return RedirectResponse(f"/consumers/{name}", status_code=303)


@router.post("/{name}/grants")
def request_access(name: str, form: FormFields, principal: CurrentPrincipal) -> RedirectResponse:
    request_grant(name, form.get("capability", ""), per_minute=_count(form, "per_minute", 60) or 60,
                  per_day=_count(form, "per_day", 10_000) or 10_000, purpose=form.get("purpose", "").strip() or None,
                  by=principal)
    return RedirectResponse(f"/consumers/{name}", status_code=303)
