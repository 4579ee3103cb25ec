"""Cases: create, read, and change them only through the state machine's transitions.

Every transition is one transaction that (1) checks the caller's version against the row's, (2) checks
the state machine, (3) authorises the actor against the department that owns the case (or the
operations centre's, for dispatching decisions), (4) updates the row with `version = version + 1
WHERE version = <read version>`, so of two concurrent writers exactly one wins and the other gets
`StaleVersionError`, and (5) appends a history row and an audit-chain entry in the same transaction:
nothing is half-done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import JSON, Connection, DateTime, Select, Table, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.core.ids import new_id
from urbanbrain.govern import audit
from urbanbrain.govern.authz import allowed, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import DriverCursor, driver_cursor, driver_time, session_scope
from urbanbrain.meta.models import SLA_MARKS, SLA_PENDING, Case, CaseEvent, CaseSla
from urbanbrain.operate.errors import StaleVersionError, TransitionNotAllowedError
from urbanbrain.operate.states import OPEN, TRANSITIONS, allowed_actions, ops_department, target_status

_CASES: Table = Case.__table__  # type: ignore[assignment]
_EVENTS: Table = CaseEvent.__table__  # type: ignore[assignment]
_SLA: Table = CaseSla.__table__  # type: ignore[assignment]
# the three INSERTs of a new case, built once (a statement built per call costs its cache key every time)
_INSERT_CASE, _INSERT_EVENTS, _INSERT_SLA = insert(_CASES), insert(_EVENTS), insert(_SLA)
_CORE_INSERTS = {_CASES.name: _INSERT_CASE, _EVENTS.name: _INSERT_EVENTS, _SLA.name: _INSERT_SLA}
# `case_sla` kind k: the case's deadline column and the column that stops that clock (`SLA_PENDING`'s order)
_CLOCKS = tuple((due, done) for due, _raised, done in SLA_PENDING)
PRIORITIES = ("low", "normal", "high", "urgent")
MAX_TEXT = 5000
NEW_FILES = "ub_new_attachment_files"  # Session.info key: attachment files written in this transaction


@dataclass
class Report:
    """What arrives from a channel: free text, where, who; the category if the channel knows it."""

    description: str
    channel: str
    source_ref: str
    title: str = ""
    category: str | None = None
    priority: str = "normal"
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    district: str | None = None
    street: str | None = None
    reporter: str | None = None
    reporter_contact: str | None = None
    person_id: str | None = None
    reported_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.description.strip():
            raise ValidationError("the report has no description", hint="say what the problem is")
        if len(self.description) > MAX_TEXT:
            raise ValidationError(f"the description is {len(self.description)} characters; at most {MAX_TEXT}")
        if self.priority not in PRIORITIES:
            raise ValidationError(f"unknown priority {self.priority!r}", hint=f"use one of {', '.join(PRIORITIES)}")
        if (self.lon is None) != (self.lat is None):
            raise ValidationError("a location needs both longitude and latitude")
        if not self.source_ref.strip():
            raise ValidationError("the report has no source reference (the channel's own id)")


def case_public(c: Case, *, history: list[CaseEvent] | None = None) -> dict[str, Any]:
    out = {name: getattr(c, name, None) for name in _public_names()}
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = as_utc(value).isoformat()
    out["actions"] = allowed_actions(c.status)
    out["open"] = c.status in OPEN
    if history is not None:
        out["history"] = [event_public(e) for e in history]
    return out


@lru_cache(maxsize=1)
def _public_names() -> tuple[str, ...]:
    """The columns and SLA marks a case shows, listed once (walking the table's columns each time cost)."""
    return (*(col.name for col in Case.__table__.columns), *SLA_MARKS)


def event_public(e: CaseEvent) -> dict[str, Any]:
    return {"at": as_utc(e.at).isoformat(), "action": e.action, "from_status": e.from_status,
            "to_status": e.to_status, "actor": e.actor, "department": e.department, "detail": e.detail}


def _get(s: Session, case_id: str) -> Case:
    c = s.get(Case, case_id)
    if c is None:
        raise NotFoundError(f"no case {case_id!r}", hint="list cases with `urbanbrain case list`")
    return c


def may_read(by: Principal, c: Case) -> bool:
    """The operations centre sees every case; a department sees the cases dispatched to it."""
    return allowed("case.read", by, ops_department()) or (c.department is not None
                                                          and allowed("case.read", by, c.department))


def get_case(case_id: str, by: Principal, *, with_history: bool = True) -> dict[str, Any]:
    with session_scope() as s:
        c = _get(s, case_id)
        if not may_read(by, c):
            raise PermissionDeniedError(f"{by.label} may not see case {case_id}",
                                        hint="cases are visible to the operations centre and the owning department")
        events = list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))) \
            if with_history else None
        out = case_public(c, history=events)
    if with_history:
        from urbanbrain.operate.attachments import list_for

        out["attachments"] = list_for(case_id)
    return out


def list_cases(by: Principal, *, status: str | None = None, department: str | None = None,
               category: str | None = None, overdue: bool = False, limit: int = 100,
               now: datetime | None = None) -> list[dict[str, Any]]:
    """Newest first. Outside the operations centre only the caller's departments' cases are listed."""
    now = now or utcnow()
    q = select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)
    if not allowed("case.read", by, ops_department()):
        depts = sorted(d for d in by.departments if allowed("case.read", by, d))
        q = q.where(Case.department.in_(depts))
    if status == "open":
        q = q.where(Case.status.in_(OPEN))
    elif status:
        q = q.where(Case.status == status)
    if department:
        q = q.where(Case.department == department)
    if category:
        q = q.where(Case.category == category)
    if overdue:
        q = q.where(Case.status.in_(OPEN), Case.resolve_due_at.is_not(None), Case.resolve_due_at <= now)
    with session_scope() as s:
        return [case_public(c) for c in s.scalars(q)]


def _event(s: Session, c: Case, by: Principal, action: str, from_status: str | None, detail: Mapping[str, Any],
           now: datetime, *, entries: list[Any] | None = None, events: list[dict[str, Any]] | None = None) -> None:
    """The history row and its audit entry (appended now, or collected in `entries` for one append; the
    history row collected in `events` for one INSERT when the case itself is being created)."""
    row = {"case_id": c.id, "at": now, "action": action, "from_status": from_status, "to_status": c.status,
           "actor": by.label, "department": c.department, "detail": dict(detail)}
    if events is None:
        s.add(CaseEvent(**row))
    else:
        events.append(row)
    entry = (by, f"case.{action}", f"case:{c.id}", {"from": from_status, "to": c.status, "version": c.version,
                                                   **detail})
    if entries is None:
        audit.record(*entry, session=s)
    else:
        entries.append(entry)


def _audit_behind(entries: list[Any]) -> None:
    for entry in entries:
        audit.record(*entry, buffered=True)


def create_case(report: Report, by: Principal, *, now: datetime | None = None, authorise: bool = True,
                then: tuple[str, Principal, dict[str, Any]] | None = None, session: Session | None = None,
                audit_behind: bool = False, audit_into: list[Any] | None = None) -> tuple[dict[str, Any], bool]:
    """Record a report as a new case; `(case, created)`. Idempotent on (channel, source_ref): a channel
    that delivers the same report twice gets the first case back with `created=False`.

    `authorise=False` is for intake channels that have authenticated their caller themselves (an
    Open311 API key, an alert from the platform's own rules); the audit entry still names `by`.
    `then=(action, actor, params)` applies a first transition in the same transaction (auto-dispatch):
    one commit instead of two, and never a created case whose automatic dispatch was lost.

    `session`: create inside the caller's transaction (the intake pipeline reads duplicates in it too).
    `audit_behind=True` (intake): the audit entries go to the audit log's write-behind buffer once the
    case and its history rows have committed, instead of locking the chain's head inside the
    transaction. The history rows are the case's record and commit with it; the audit entries follow
    within ~0.2 s (a crash in between loses them, never the case or its history). Transitions made by
    people keep their audit entry in their transaction.
    `audit_into` (intake's group commit, `urbanbrain.operate.intake.batch`): the entries are added to this
    list for the caller to append, for every case of its transaction, with one lock of the chain's head.
    """
    report.validate()
    if authorise:
        authorize("case.create", by, department=ops_department())
    now = as_utc(now or report.reported_at or utcnow())
    from urbanbrain.operate import sla

    with nullcontext(session) if session is not None else session_scope() as s:
        # Core statements on the session's connection: the Session's ORM execution path cost ~0.1 ms a statement
        conn = s.connection()
        raw = driver_cursor(conn)
        if raw is not None:  # SQLite: the driver's cursor, ~40 us less than Core for this look-up
            found = raw.execute(_EXISTING_SQL, (report.channel, report.source_ref)).fetchone()
            existing = found[0] if found else None
        else:
            existing = conn.scalar(_existing_id(), {"channel": report.channel, "source_ref": report.source_ref})
        if existing is not None:
            return case_public(_get(s, existing)), False
        c = new_case(id=f"C{now:%Y%m%d}-{new_id()[-8:].upper()}", channel=report.channel, source_ref=report.source_ref,
                 status="new", version=1, category=report.category, priority=report.priority,
                 title=(report.title or report.description)[:200], description=report.description,
                 address=report.address, district=report.district, street=report.street, lon=report.lon,
                 lat=report.lat, reporter=report.reporter, reporter_contact=report.reporter_contact,
                 person_id=report.person_id, proposal=dict(report.extra), returns=0, created_at=now, updated_at=now)
        sla.arm(s, c, now)
        entries: list[Any] = []
        events: list[dict[str, Any]] = []
        _event(s, c, by, "create", None, {"channel": report.channel, "source_ref": report.source_ref}, now,
               entries=entries, events=events)
        if then is not None:  # applied to the row before it is written: one INSERT, no UPDATE and re-read
            action, actor, params = then
            _transition_in(s, c, action, actor, c.version, now, params, entries=entries, events=events)
        try:
            # The row, its history and its clocks as Core INSERTs: the ORM's unit of work around new objects
            # cost ~1 ms of every Open311 POST (bench/cases). `c` stays a plain, unattached object.
            _insert(conn, raw, _CASES, [{col.name: getattr(c, col.name) for col in _CASES.columns}])
            _insert(conn, raw, _EVENTS, events)
            # none when no SLA policy matched: the case runs without clocks
            _insert(conn, raw, _SLA, [{"case_id": c.id, "kind": k, "due_at": getattr(c, due), "raised_at": None,
                                       "stopped_at": getattr(c, done)} for k, (due, done) in enumerate(_CLOCKS)
                                      if getattr(c, due) is not None])
            if audit_into is not None:
                audit_into.extend(entries)
            elif audit_behind:
                event.listen(s, "after_commit", lambda _s: _audit_behind(entries), once=True)
            else:
                audit.record_all(entries, session=s)
                s.flush()
        except IntegrityError:  # the same report raced in through another process: keep the first
            if s.in_nested_transaction():  # one report of a group commit: its savepoint goes, the group stays
                raise
            s.rollback()
            first = s.scalar(select(Case).where(Case.channel == report.channel,
                                                Case.source_ref == report.source_ref))
            if first is None:
                raise
            return case_public(first), False
        return case_public(c), True


class _NewCase:
    """A case being created, before its INSERT: a plain object with `Case`'s columns and SLA marks
    (unset ones None). Only its values are written, by one INSERT; SQLAlchemy's instrumented `Case`
    (attribute events on each of ~30 sets and reads) cost ~0.1 ms of every intake (bench/cases)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(_blank_case())
        self.__dict__.update(values)


@lru_cache(maxsize=1)
def _blank_case() -> dict[str, Any]:
    return dict.fromkeys(_public_names())


def new_case(**values: Any) -> Case:
    """The plain stand-in for a `Case` being created (see `_NewCase`), typed as the row it becomes."""
    return cast(Case, _NewCase(values))


_EXISTING_SQL = "SELECT id FROM cases WHERE channel = ? AND source_ref = ?"


def _insert(conn: Connection, raw: DriverCursor | None, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows of a new case's tables: through the driver's cursor on SQLite (~0.1 ms less a case than Core's
    execution path), Core's INSERT elsewhere."""
    if not rows:
        return
    if raw is None:
        conn.execute(_CORE_INSERTS[table.name], rows)
        return
    sql, columns = _raw_insert(table)
    raw.executemany(sql, [[_driver_value(conn, kind, row[name]) for name, kind in columns] for row in rows])


@cache
def _raw_insert(table: Table) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`table`'s INSERT in the driver's terms, and each column's conversion ("time", "json" or ""), worked
    out once from the table (an autoincrement key, the history's `id`, is the database's to give)."""
    columns = tuple((col.name, "time" if isinstance(col.type, DateTime) else "json" if isinstance(col.type, JSON)
                     else "") for col in table.columns if col is not table.autoincrement_column)
    return (f"INSERT INTO {table.name} ({', '.join(n for n, _ in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"), columns


def _driver_value(conn: Connection, kind: str, value: Any) -> Any:
    """A value as SQLAlchemy's SQLite types would bind it: times as their text form, JSON as
    `json.dumps` text (None as JSON null, SQLAlchemy's default)."""
    if kind == "json":
        return json.dumps(value)
    if kind == "time" and value is not None:
        return driver_time(conn, value)
    return value


@lru_cache(maxsize=1)
def _existing_id() -> Select[str]:
    """The idempotency look-up, built once (building it cost ~0.3 ms of each intake)."""
    return select(Case.id).where(Case.channel == bindparam("channel"), Case.source_ref == bindparam("source_ref"))


def transition(case_id: str, action: str, by: Principal, *, version: int | None = None,
               now: datetime | None = None, **params: Any) -> dict[str, Any]:
    """Apply `action` to the case. `version` is the version the caller saw; when it is not the current
    one the call fails with `StaleVersionError` (omit it only where no person decided on a stale view)."""
    if action not in TRANSITIONS:
        raise ValidationError(f"unknown case action {action!r}", hint=f"use one of {', '.join(TRANSITIONS)}")
    now = as_utc(now or utcnow())
    files: list[Any] = []
    try:
        with session_scope() as s:
            s.info[NEW_FILES] = files
            c = _get(s, case_id)
            _transition_in(s, c, action, by, version, now, params)
            return case_public(c)
    except BaseException:
        if files:  # photos written for a feedback that did not commit: nothing half-done
            from urbanbrain.operate.attachments import forget

            forget(files)
        raise


def check_transition(case_id: str, action: str, by: Principal) -> None:
    """Refuse early what `transition` would refuse for who is acting and the case's state (not the
    version): the upload routes ask before reading megabytes of photos. `transition` checks again."""
    if action not in TRANSITIONS:
        raise ValidationError(f"unknown case action {action!r}", hint=f"use one of {', '.join(TRANSITIONS)}")
    rule = TRANSITIONS[action]
    with session_scope() as s:
        c = _get(s, case_id)
        owner = ops_department() if rule.by_ops or c.department is None else c.department
        authorize(f"case.{action}", by, department=owner)
        if c.status not in rule.sources:
            raise TransitionNotAllowedError(
                f"cannot {action} case {c.id}: it is {c.status}",
                hint=f"from {c.status} the allowed actions are: {', '.join(allowed_actions(c.status)) or 'none'}")


def _transition_in(s: Session, c: Case, action: str, by: Principal, version: int | None, now: datetime,
                   params: Mapping[str, Any], *, entries: list[Any] | None = None,
                   events: list[dict[str, Any]] | None = None) -> None:
    """Apply one transition inside `s`. With `entries`, `c` is a case being created in this same
    transaction (not yet written): its attributes are set directly and the audit entry is collected."""
    rule = TRANSITIONS[action]
    seen = c.version if version is None else int(version)
    if seen != c.version:
        raise StaleVersionError(f"case {c.id} is at version {c.version}, you acted on version {seen}",
                                hint="someone changed it meanwhile: reload the case and decide again",
                                current_version=c.version)
    if c.status not in rule.sources:
        raise TransitionNotAllowedError(
            f"cannot {action} case {c.id}: it is {c.status}",
            hint=f"from {c.status} the allowed actions are: {', '.join(allowed_actions(c.status)) or 'none'}")
    owner = ops_department() if rule.by_ops or c.department is None else c.department
    authorize(f"case.{action}", by, department=owner)
    values, detail = _apply(s, c, action, params, now)
    before = c.status
    values.update(status=target_status(action, c.status), version=c.version + 1, updated_at=now)
    if entries is not None:
        for key, value in values.items():
            setattr(c, key, value)
        _event(s, c, by, action, before, detail, now, entries=entries, events=events)
        return
    done = s.execute(update(Case).where(Case.id == c.id, Case.version == seen).values(**values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleVersionError(f"case {c.id} was changed by someone else while you acted",
                                hint="reload the case and decide again")
    _follow_clocks(s, c.id, values)
    s.refresh(c)
    _event(s, c, by, action, before, detail, now)


def _follow_clocks(s: Session, case_id: str, values: Mapping[str, Any]) -> None:
    """The sweep's clocks follow a transition's new deadlines (merge clears them) and stops (accept,
    feedback; reopen restarts the resolution clocks), in the same transaction: one UPDATE per distinct
    change, none when the transition touches no clock or the case has none."""
    changes: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for kind, (due, done) in enumerate(_CLOCKS):
        change = (*((("due_at", values[due]),) if due in values else ()),
                  *((("stopped_at", values[done]),) if done in values else ()))
        if change:
            changes.setdefault(change, []).append(kind)
    for key, kinds in changes.items():
        s.execute(update(_SLA).where(_SLA.c.case_id == case_id, _SLA.c.kind.in_(kinds)).values(**dict(key)))


def _text(params: Mapping[str, Any], key: str, what: str) -> str:
    value = str(params.get(key) or "").strip()
    if not value:
        raise ValidationError(f"{what} is required", hint=f"pass {key}")
    return value


def _attach(s: Session, c: Case, uploads: list[Any]) -> list[str]:
    """Check every photo first (one bad photo refuses the whole feedback), then store and record them.

    Files this call creates are listed in `s.info[NEW_FILES]`: `transition` removes them again when the
    transaction does not commit."""
    from urbanbrain.core.settings import get_settings
    from urbanbrain.meta.models import CaseAttachment
    from urbanbrain.operate.attachments import check, declared_type, safe_name, store

    most = get_settings().upload_max_files
    if len(uploads) > most:
        raise ValidationError(f"{len(uploads)} photos; one feedback may carry at most {most}")
    digests = [check(u) for u in uploads]
    ids = []
    for upload, digest in zip(uploads, digests, strict=True):
        created = store(upload, digest)
        if created is not None:
            s.info.setdefault(NEW_FILES, []).append(created)
        row = CaseAttachment(case_id=c.id, name=safe_name(upload.name), content_type=declared_type(upload.content_type),
                             size=len(upload.data), sha256=digest)
        s.add(row)
        s.flush()
        ids.append(row.id)
    return ids


def _apply(s: Session, c: Case, action: str, params: Mapping[str, Any], now: datetime
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column changes and the history detail of one action (already allowed and authorised)."""
    note = str(params.get("note") or "").strip()
    detail: dict[str, Any] = {"note": note} if note else {}
    values: dict[str, Any] = {}
    if action == "dispatch":
        from urbanbrain.operate.catalogue import require_department

        dept = require_department(s, _text(params, "department", "the department to dispatch to"))
        values.update(department=dept, dispatched_at=now)
        if params.get("category"):
            values["category"] = str(params["category"])
        detail.update(department=dept, previous=c.department, decision=params.get("decision") or "dispatcher")
    elif action == "accept":
        values["responded_at"] = c.responded_at or now
    elif action == "return":
        detail["reason"] = _text(params, "reason", "a reason for sending the case back")
        detail["from_department"] = c.department
        values.update(department=None, returns=c.returns + 1)
    elif action == "handle":
        detail["note"] = _text(params, "note", "a progress note")
    elif action == "feedback":
        detail["note"] = _text(params, "note", "a note on what was done")
        detail["attachments"] = _attach(s, c, list(params.get("photos") or []))
        values["resolved_at"] = now
    elif action == "rate":
        score = params.get("satisfaction")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise ValidationError(f"satisfaction must be a whole number from 1 to 5, not {score!r}")
        values["satisfaction"] = score
        detail["satisfaction"] = score
    elif action == "close":
        values["closed_at"] = now
    elif action == "reopen":
        detail["reason"] = _text(params, "reason", "a reason for reopening")
        values.update(resolved_at=None, closed_at=None, satisfaction=None)
    elif action == "merge":
        into = _text(params, "into", "the case to merge into")
        if into == c.id:
            raise ValidationError("a case cannot be merged into itself")
        target = _get(s, into)
        if target.status == "merged":
            raise TransitionNotAllowedError(f"case {into} is itself merged into {target.merged_into}",
                                            hint=f"merge into {target.merged_into} instead")
        values.update(merged_into=into, respond_warn_at=None, respond_due_at=None, resolve_warn_at=None,
                      resolve_due_at=None)
        detail["into"] = into
    return values, detail
