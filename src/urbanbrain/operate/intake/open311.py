"""Open311 GeoReport v2 as an intake channel: services from the dispatch catalogue, requests as cases.

The HTTP side (formats, errors in Open311's shape) lives in `urbanbrain.web.open311`; this module holds
what it means: a service is a category someone owns; a request is a case, shown without the reporter's
personal data (GeoReport's GET requests is public). Statuses are the spec's `open`/`closed`, with the
case's own status as the extension `detailed_status` (`extensions=true`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from urbanbrain.core.clock import as_utc
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.core.ids import new_id
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Case, CaseEvent
from urbanbrain.operate import catalogue
from urbanbrain.operate.cases import Report

SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
MAX_REQUESTS = 1000
MAX_MEDIA_URL = 2000


def services() -> list[dict[str, Any]]:
    return [{"service_code": code, "service_name": code, "description": f"{code} ({', '.join(depts)})",
             "metadata": False, "type": "realtime", "keywords": "", "group": depts[0]}
            for code, depts in catalogue.owners().items()]


def service_definition(code: str) -> dict[str, Any]:
    if code not in catalogue.owners():
        raise NotFoundError(f"service_code {code!r} not found", hint="list services at services.json")
    return {"service_code": code, "attributes": []}


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat() if value else ""


def public_media_url(value: Any) -> str | None:
    """A resident's own link to a photo (GeoReport v2 `media_url`), only when it is an absolute http(s)
    URL with a host: never a relative or internal path, `javascript:`/`data:` or a department's upload
    (those live in `case_attachments` and are served only to people who may read the case)."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MEDIA_URL:
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in url):
        return None
    return url


def _public(c: Case, notes: str, extensions: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service_request_id": c.id, "status": "closed" if c.status in ("closed", "merged") else "open",
        "status_notes": notes, "service_name": c.category or "", "service_code": c.category or "",
        "description": c.description, "agency_responsible": c.department or "", "service_notice": "",
        "requested_datetime": _iso(c.created_at), "updated_datetime": _iso(c.updated_at),
        "expected_datetime": _iso(c.resolve_due_at), "address": c.address or "", "address_id": "", "zipcode": "",
        "lat": c.lat if c.lat is not None else "", "long": c.lon if c.lon is not None else "",
        "media_url": public_media_url((c.proposal or {}).get("media_url")) or ""}
    if extensions:
        out["extended_attributes"] = {"detailed_status": c.status.upper(), "district": c.district or ""}
    return out


def requests(*, ids: list[str] | None = None, service_code: str | None = None, status: str | None = None,
             start: datetime | None = None, end: datetime | None = None, extensions: bool = False
             ) -> list[dict[str, Any]]:
    if status not in (None, "", "open", "closed"):
        raise ValidationError(f"status must be open or closed, not {status!r}")
    q = select(Case).order_by(Case.created_at.desc()).limit(MAX_REQUESTS)
    if ids:
        q = q.where(Case.id.in_(ids))
    if service_code:
        q = q.where(Case.category == service_code)
    if status == "closed":
        q = q.where(Case.status.in_(("closed", "merged")))
    elif status == "open":
        q = q.where(Case.status.not_in(("closed", "merged")))
    if start:
        q = q.where(Case.created_at >= start)
    if end:
        q = q.where(Case.created_at <= end)
    with session_scope() as s:
        rows = list(s.scalars(q))
        notes: dict[str, str] = {}
        if rows:
            for cid, detail in s.execute(select(CaseEvent.case_id, CaseEvent.detail)
                                         .where(CaseEvent.case_id.in_([c.id for c in rows]))
                                         .order_by(CaseEvent.id)):
                note = (detail or {}).get("note") if isinstance(detail, dict) else None
                if note:
                    notes[cid] = str(note)
        return [_public(c, notes.get(c.id, ""), extensions) for c in rows]


def _media_url(value: Any) -> str | None:
    """The submitted `media_url`, refused with a clear error unless it is an absolute http(s) URL."""
    if value in (None, ""):
        return None
    url = public_media_url(value)
    if url is None:
        raise ValidationError("media_url must be an absolute http or https URL (at most "
                              f"{MAX_MEDIA_URL} characters)", hint="e.g. https://example.org/photos/123.jpg")
    return url


class Open311Channel:
    """A POST requests body (form fields of the spec) as a report."""

    name = "open311"

    def to_report(self, payload: Mapping[str, Any]) -> Report:
        code = str(payload.get("service_code") or "").strip()
        if not code:
            raise ValidationError("service_code is required")
        if code not in catalogue.owners():
            raise NotFoundError(f"service_code {code!r} not found", hint="list services at services.json")
        lat, lon = payload.get("lat"), payload.get("long")
        address = str(payload.get("address_string") or "").strip() or None
        if (lat in (None, "") or lon in (None, "")) and not address:
            raise ValidationError("a location is required: lat and long, or address_string")
        try:
            flat = float(lat) if lat not in (None, "") else None  # type: ignore[arg-type]
            flon = float(lon) if lon not in (None, "") else None  # type: ignore[arg-type]
        except ValueError:
            raise ValidationError("lat and long must be decimal degrees") from None
        name = " ".join(str(payload.get(k) or "").strip() for k in ("first_name", "last_name")).strip() or None
        return Report(description=str(payload.get("description") or code), channel=self.name,
                      source_ref=str(payload.get("request_ref") or new_id("o311")), category=code, address=address,
                      lon=flon, lat=flat, reporter=name,
                      reporter_contact=str(payload.get("email") or payload.get("phone") or "") or None,
                      extra={"media_url": _media_url(payload.get("media_url")), "device_id": payload.get("device_id")})


OPEN311 = Open311Channel()
