"""Built-in intake channels: the console/API form, real-time alerts, synced hotline tickets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from urbanbrain.core.clock import as_utc
from urbanbrain.core.errors import ValidationError
from urbanbrain.operate.cases import PRIORITIES, Report


def _float(payload: Mapping[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if value in (None, ""):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"{key} must be a number, not {value!r}") from None


def _time(value: Any, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        raise ValidationError(f"{key} must be an ISO date-time, not {value!r}") from None


class FormChannel:
    """The console's form and `POST /api/cases`: a staff member records a report."""

    name = "form"

    def to_report(self, payload: Mapping[str, Any]) -> Report:
        ref = str(payload.get("source_ref") or payload.get("request_id") or "")
        if not ref:
            from urbanbrain.core.ids import new_id

            ref = new_id("form")
        return Report(description=str(payload.get("description") or ""), channel=self.name, source_ref=ref,
                      title=str(payload.get("title") or ""), category=payload.get("category") or None,
                      priority=str(payload.get("priority") or "normal"), address=payload.get("address") or None,
                      lon=_float(payload, "lon"), lat=_float(payload, "lat"),
                      reporter=payload.get("reporter") or None, reporter_contact=payload.get("contact") or None)


class AlertChannel:
    """An alert raised by the real-time layer's rules (`alerts.*` on the bus): one case per alert id.

    Payload: `{"alert_id","rule","device","feed","department","severity","raised_at","location"?,"message"}`;
    `location` is `{"lon","lat"}` or `{"address"}` when the device knows where it is.
    """

    name = "alert"
    SEVERITY: ClassVar[dict[str, str]] = {"info": "low", "warning": "normal", "minor": "normal", "major": "high",
                                          "critical": "urgent"}

    def to_report(self, payload: Mapping[str, Any]) -> Report:
        # the real-time layer publishes `id` and `device_id` (stream.alerts.alert_public)
        payload = {**payload, "alert_id": payload.get("alert_id") or payload.get("id"),
                   "device": payload.get("device") or payload.get("device_id")}
        missing = [k for k in ("alert_id", "rule", "device", "message") if not payload.get(k)]
        if missing:
            raise ValidationError(f"the alert lacks {', '.join(missing)}")
        severity = str(payload.get("severity") or "warning").lower()
        loc = payload.get("location") or {}
        if not isinstance(loc, Mapping):
            raise ValidationError("the alert's location must be an object with lon/lat or address")
        return Report(description=str(payload["message"]), channel=self.name, source_ref=str(payload["alert_id"]),
                      title=f"[{payload['rule']}] {payload['message']}"[:200], category=f"alert:{payload['rule']}",
                      priority=self.SEVERITY.get(severity, "normal"), address=loc.get("address"),
                      lon=_float(loc, "lon"), lat=_float(loc, "lat"), reporter=f"device:{payload['device']}",
                      reported_at=_time(payload.get("raised_at"), "raised_at"),
                      extra={"alert": {k: payload.get(k) for k in ("rule", "device", "feed", "department",
                                                                    "severity")}})


class TicketChannel:
    """A row of a synced hotline ticket table (the demo's `hotline.hotline_12345.tickets`)."""

    name = "dataset"

    def to_report(self, payload: Mapping[str, Any]) -> Report:
        if not payload.get("ticket_id"):
            raise ValidationError("the ticket has no ticket_id")
        return Report(description=str(payload.get("content") or ""), channel=self.name,
                      source_ref=str(payload["ticket_id"]), category=payload.get("category") or None,
                      address=payload.get("address") or None, district=payload.get("district") or None,
                      reporter=payload.get("caller_name") or None, reporter_contact=payload.get("caller_phone"),
                      person_id=payload.get("person_id"), reported_at=_time(payload.get("created_at"), "created_at"))


def valid_priority(value: str) -> str:
    if value not in PRIORITIES:
        raise ValidationError(f"unknown priority {value!r}", hint=f"use one of {', '.join(PRIORITIES)}")
    return value


FORM, ALERT, TICKET = FormChannel(), AlertChannel(), TicketChannel()  # what the entry points name
