"""Alerts from the real-time layer become cases: `handle_alert(payload)`, idempotent on the alert id.

`subscribe_alerts()` subscribes this to the event bus (`alerts.>`); `urbanbrain serve` and
`urbanbrain stream`, the processes where rules raise alerts, call it (with NATS as the bus, any process
may). An alert without a location is accepted (the device identifies the place); one with a location
outside the city is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from urbanbrain.govern.principals import Principal
from urbanbrain.operate.intake.base import channel, submit

if TYPE_CHECKING:
    from urbanbrain.core.bus import Subscription

ALERTS = Principal("system", "intake:alerts")


def handle_alert(payload: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """One case per alert id; a repeated delivery returns the same case."""
    report = channel("alert").to_report(payload)
    case, _created = submit(report, ALERTS, authorise=False, now=now, require_location=False)
    return case


log = logging.getLogger("urbanbrain.operate.alerts")


def on_alert_event(subject: str, payload: Mapping[str, Any]) -> None:
    """A bus message about an alert: a case for each alert raised; acknowledgements and clears change
    nothing here (the case has its own life once opened). Failures are logged, never raised into the
    bus: the alert stays in the real-time layer's table either way."""
    if payload.get("event", "raised") != "raised":
        return
    try:
        handle_alert(payload)
    except Exception:  # one bad alert must not stop the bus's delivery to others
        log.exception("alert %s on %s did not become a case", payload.get("id") or payload.get("alert_id"), subject)


def subscribe_alerts() -> Subscription:
    """Turn every raised alert on the event bus into a case (idempotent on the alert id)."""
    from urbanbrain.core.bus import get_bus

    return get_bus().subscribe("alerts.>", on_alert_event)
