"""Alerts from the real-time layer become cases: `handle_alert(payload)`, idempotent on the alert id.

The bus (`urbanbrain.core.bus`) is subscribed by whoever runs the worker:
`subscribe("alerts.*", lambda subject, payload: handle_alert(payload))`. An alert without a location
is accepted (the device identifies the place); one with a location outside the city is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from urbanbrain.govern.principals import Principal
from urbanbrain.operate.intake.base import channel, submit

ALERTS = Principal("system", "intake:alerts")


def handle_alert(payload: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """One case per alert id; a repeated delivery returns the same case."""
    report = channel("alert").to_report(payload)
    case, _created = submit(report, ALERTS, authorise=False, now=now, require_location=False)
    return case
