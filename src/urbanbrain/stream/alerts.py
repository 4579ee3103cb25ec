"""Alerts: rules evaluated on a feed's readings and clock, with a raised/acknowledged/cleared lifecycle.

Every lifecycle event is stored and published on the event bus as `alerts.<severity>` with the
payload documented in docs/stream.md; the service functions at the end are what the CLI and API call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from urbanbrain.core.bus import Bus, get_bus
from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from urbanbrain.core.naming import validate_code
from urbanbrain.govern import access
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Feed, StreamAlert, StreamRule
from urbanbrain.stream.payloads import Reading
from urbanbrain.stream.rules import SEVERITIES, RuleEval, Verdict, parse_rule

OPEN = ("raised", "acknowledged")


def alert_public(a: StreamAlert, rule: str = "", feed: str = "") -> dict[str, Any]:
    return {"id": a.id, "rule": rule, "feed": feed, "department": a.department, "device_id": a.device_id,
            "severity": a.severity, "status": a.status, "message": a.message, "value": a.value,
            "raised_at": as_utc(a.raised_at).isoformat(),
            "acknowledged_at": as_utc(a.acknowledged_at).isoformat() if a.acknowledged_at else None,
            "acknowledged_by": a.acknowledged_by,
            "cleared_at": as_utc(a.cleared_at).isoformat() if a.cleared_at else None}


def _publish(bus: Bus, event: str, payload: dict[str, Any]) -> None:
    bus.publish(f"alerts.{payload['severity']}", {"event": event, **payload})


class AlertEngine:
    """One feed's rules. `observe` after each accepted batch, `tick` now and then (silent devices)."""

    def __init__(self, feed_id: str, feed_name: str, department: str, *, now: Callable[[], datetime] = utcnow,
                 bus: Bus | None = None) -> None:
        self.feed_id, self.feed_name, self.department = feed_id, feed_name, department
        self.now = now
        self.bus = bus or get_bus()
        self.rules: dict[str, tuple[RuleEval, str]] = {}  # id -> (evaluator, severity)
        self.open: dict[tuple[str, str], str] = {}  # (rule id, device) -> alert id

    def reload(self, last_seen: dict[str, datetime] | None = None) -> None:
        """Pick up added or removed rules; a new silent rule starts from each device's last reading."""
        with session_scope() as s:
            rows = list(s.scalars(select(StreamRule).where(StreamRule.feed_id == self.feed_id,
                                                           StreamRule.enabled.is_(True))))
            self.open = {(a.rule_id, a.device_id): a.id for a in s.scalars(
                select(StreamAlert).where(StreamAlert.feed_id == self.feed_id, StreamAlert.status.in_(OPEN)))}
        ids = {r.id for r in rows}
        for gone in set(self.rules) - ids:
            del self.rules[gone]
        for r in rows:
            if r.id not in self.rules:
                ev = RuleEval(r.id, r.name, parse_rule(r.expression))
                for device, at in (last_seen or {}).items():
                    ev.observe(device, at, {}) if ev.condition.kind == "silent" else None
                self.rules[r.id] = (ev, r.severity)

    def observe(self, readings: list[Reading]) -> None:
        verdicts: list[tuple[str, str, Verdict]] = []
        for rule_id, (ev, severity) in self.rules.items():
            for r in readings:
                v = ev.observe(r.device_id, r.observed_at, r.attributes)
                if v is not None:
                    verdicts.append((rule_id, severity, v))
        self._apply(verdicts)

    def tick(self) -> None:
        now = self.now()
        self._apply([(rid, sev, v) for rid, (ev, sev) in self.rules.items() for v in ev.tick(now)])

    def _apply(self, verdicts: list[tuple[str, str, Verdict]]) -> None:
        # the last verdict per (rule, device) in this batch decides
        final: dict[tuple[str, str], tuple[str, Verdict]] = {}
        for rule_id, severity, v in verdicts:
            final[(rule_id, v.device_id)] = (severity, v)
        for (rule_id, device), (severity, v) in final.items():
            open_id = self.open.get((rule_id, device))
            if v.holds and open_id is None:
                self._raise(rule_id, severity, v)
            elif not v.holds and open_id is not None:
                self._clear(open_id)

    def _raise(self, rule_id: str, severity: str, v: Verdict) -> None:
        with session_scope() as s:
            a = StreamAlert(rule_id=rule_id, feed_id=self.feed_id, department=self.department,
                            device_id=v.device_id, severity=severity, message=v.message,
                            value=None if v.value is None else str(v.value), raised_at=self.now())
            s.add(a)
            s.flush()
            self.open[(rule_id, v.device_id)] = a.id
            payload = alert_public(a, self.rules[rule_id][0].name, self.feed_name)
        _publish(self.bus, "raised", payload)

    def _clear(self, alert_id: str) -> None:
        with session_scope() as s:
            a = s.get(StreamAlert, alert_id)
            if a is None:
                return
            self.open.pop((a.rule_id, a.device_id), None)
            if a.status not in OPEN:
                return
            a.status, a.cleared_at = "cleared", self.now()
            rule = self.rules[a.rule_id][0].name if a.rule_id in self.rules else ""
            payload = alert_public(a, rule, self.feed_name)
        _publish(self.bus, "cleared", payload)


# --- service functions ---------------------------------------------------------------------------


def add_rule(by: Principal, name: str, feed: str, expression: str, severity: str = "minor") -> dict[str, Any]:
    validate_code(name, "rule name")
    parse_rule(expression)
    if severity not in SEVERITIES:
        raise ValidationError(f"unknown severity {severity!r}", hint=f"use one of {', '.join(SEVERITIES)}")
    with session_scope() as s:
        f = s.scalar(select(Feed).where(Feed.name == feed))
        if f is None:
            raise NotFoundError(f"no feed named {feed!r}", hint="list them with `urbanbrain feed list`")
        authorize("rule.create", by, department=f.department.code)
        if s.scalar(select(StreamRule).where(StreamRule.name == name)):
            raise AlreadyExistsError(f"a rule named {name!r} already exists", hint="choose another name")
        r = StreamRule(name=name, feed_id=f.id, expression=expression, severity=severity, created_by=by.label)
        s.add(r)
        dept = f.department.code
    access.on_change(by, "rule.create", name, {"feed": feed, "when": expression, "severity": severity})
    return {"name": name, "feed": feed, "department": dept, "when": expression, "severity": severity}


def delete_rule(by: Principal, name: str) -> None:
    with session_scope() as s:
        r = s.scalar(select(StreamRule).where(StreamRule.name == name))
        if r is None:
            raise NotFoundError(f"no rule named {name!r}", hint="list them with `urbanbrain rule list`")
        f = s.get(Feed, r.feed_id)
        authorize("rule.delete", by, department=f.department.code if f else None)
        s.delete(r)
    access.on_change(by, "rule.delete", name, {})


def list_rules(by: Principal, feed: str | None = None) -> list[dict[str, Any]]:
    with session_scope() as s:
        rows = s.execute(select(StreamRule, Feed).join(Feed, Feed.id == StreamRule.feed_id)
                         .order_by(StreamRule.name)).all()
        return [{"name": r.name, "feed": f.name, "department": f.department.code, "when": r.expression,
                 "severity": r.severity, "enabled": r.enabled} for r, f in rows
                if (feed is None or f.name == feed) and by.in_department(f.department.code)]


def list_alerts(by: Principal, *, status: str | None = "open", feed: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Alerts of the departments the principal belongs to (platform admins: all)."""
    with session_scope() as s:
        q = (select(StreamAlert, StreamRule.name, Feed.name).join(StreamRule, StreamRule.id == StreamAlert.rule_id)
             .join(Feed, Feed.id == StreamAlert.feed_id).order_by(StreamAlert.raised_at.desc()))
        if status == "open":
            q = q.where(StreamAlert.status.in_(OPEN))
        elif status:
            q = q.where(StreamAlert.status == status)
        if feed:
            q = q.where(Feed.name == feed)
        rows = s.execute(q.limit(max(1, min(limit, 5000)))).all()
        return [alert_public(a, rule, fname) for a, rule, fname in rows if by.in_department(a.department)]


def acknowledge_alert(by: Principal, alert_id: str, *, bus: Bus | None = None) -> dict[str, Any]:
    with session_scope() as s:
        a = s.get(StreamAlert, alert_id)
        if a is None:
            raise NotFoundError(f"no alert {alert_id!r}", hint="list them with `urbanbrain alert list`")
        authorize("alert.acknowledge", by, department=a.department)
        if a.status != "raised":
            raise ValidationError(f"alert {alert_id} is {a.status}; only a raised alert can be acknowledged")
        a.status, a.acknowledged_at, a.acknowledged_by = "acknowledged", utcnow(), by.label
        rule = s.get(StreamRule, a.rule_id)
        f = s.get(Feed, a.feed_id)
        payload = alert_public(a, rule.name if rule else "", f.name if f else "")
    access.on_change(by, "alert.acknowledge", alert_id, {"device": payload["device_id"], "rule": payload["rule"]})
    _publish(bus or get_bus(), "acknowledged", payload)
    return payload


def get_alert(by: Principal, alert_id: str) -> dict[str, Any]:
    """One alert, for a page that redraws one row when an event about it arrives. An alert of a
    department the principal does not belong to is "not found", as if it did not exist."""
    with session_scope() as s:
        a = s.get(StreamAlert, alert_id)
        if a is None or not by.in_department(a.department):
            raise NotFoundError(f"no alert {alert_id!r}", hint="list them with `urbanbrain alert list`")
        rule = s.get(StreamRule, a.rule_id)
        f = s.get(Feed, a.feed_id)
        return alert_public(a, rule.name if rule else "", f.name if f else "")


def clear_alert(by: Principal, alert_id: str, *, bus: Bus | None = None) -> dict[str, Any]:
    """An operator closes an open alert by hand (a fault fixed on site, a false alarm). The running
    rule sees the alert closed at its next reload; if the condition still holds it raises a new one."""
    with session_scope() as s:
        a = s.get(StreamAlert, alert_id)
        if a is None:
            raise NotFoundError(f"no alert {alert_id!r}", hint="list them with `urbanbrain alert list`")
        authorize("alert.clear", by, department=a.department)
        if a.status not in OPEN:
            raise ValidationError(f"alert {alert_id} is already {a.status}")
        a.status, a.cleared_at = "cleared", utcnow()
        rule = s.get(StreamRule, a.rule_id)
        f = s.get(Feed, a.feed_id)
        payload = alert_public(a, rule.name if rule else "", f.name if f else "")
    access.on_change(by, "alert.clear", alert_id, {"device": payload["device_id"], "rule": payload["rule"]})
    _publish(bus or get_bus(), "cleared", payload)
    return payload
