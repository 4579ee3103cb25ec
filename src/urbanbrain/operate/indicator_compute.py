"""Computing indicators: governed SQL (or a registered function, `operate.indicator_functions`) → checked
shape → a time-series point → the traffic light → alerts.

The SQL runs through `govern.query.run_query` as the owning department (a principal of that department
with no roles: it sees the owner's data as stored and other departments' data only as shared), never
around governance. The values are appended to `indicator_values` in the metadata DB, in the same
transaction as the indicator's new state: one row per computation and breakdown key is small, and a
point, the light and the "alert sent" mark can never disagree (a lake table per append would make a
snapshot per refresh; `case.publish`-style export to the lake is the way to trend queries in SQL).

A computation that fails — the SQL does not run, the dataset has gone, the result has the wrong shape,
a value is NULL or infinite (a division by zero) — records a clear error on the indicator, keeps the
last good value and marks it stale; `compute_all` goes on with the next indicator.

An alert goes on the bus (`alerts.<severity>`, the payload the case intake reads) only when the light
gets worse (ok → warn, warn → alarm), once; a return to ok publishes `cleared`; a refresh that keeps the
light publishes nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update

from urbanbrain.core.bus import Bus, get_bus
from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import NotFoundError, UrbanBrainError, ValidationError
from urbanbrain.core.ids import new_id
from urbanbrain.core.schedule import parse_schedule
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta import leases
from urbanbrain.meta.db import driver_time, insert_many, session_scope
from urbanbrain.meta.models import Indicator
from urbanbrain.operate.indicator_functions import evaluate_function, number
from urbanbrain.operate.indicators import indicator_public, indicator_row
from urbanbrain.operate.thresholds import ALARM, OK, RANK, WARN, light, parse_threshold, worst

log = logging.getLogger("urbanbrain.operate.indicators")

SEVERITY = {WARN: "warning", ALARM: "major"}
MAX_ROWS = 10_000
RUNNING_TIMEOUT = timedelta(minutes=30)  # a computation older than this has died: its claim lapses
# the hot paths (claiming, storing a run) use Core: no ORM change tracking
_T: Table = Indicator.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Spec:
    """What a computation needs, read once so the query runs outside any metadata transaction."""

    id: str
    name: str
    sql: str
    breakdown: str | None
    department: str
    function: str | None = None  # a registered function (`operate.indicator_functions`) instead of SQL


def reader(spec: Spec) -> Principal:
    """The owning department's view: in the department, no roles, never a platform admin."""
    return Principal("consumer", f"indicator:{spec.name}", frozenset({spec.department}), frozenset())


def evaluate(spec: Spec) -> list[tuple[str, float]]:
    """Run the SQL (or the function) as the owner and check the shape: `(key, value)` pairs, key "" for
    the city-wide row."""
    from urbanbrain.govern.query import run_query

    if spec.function:
        return evaluate_function(spec.function, reader(spec), spec.department, spec.name, spec.breakdown)
    return check_shape(spec, run_query(spec.sql, max_rows=MAX_ROWS, principal=reader(spec)))


def check_shape(spec: Spec, result: Any) -> list[tuple[str, float]]:
    """A query result as `(key, value)` pairs, or a `ValidationError` naming what is wrong with its shape."""
    cols = [c.lower() for c in result.columns]
    wanted = ["value"] + ([spec.breakdown.lower()] if spec.breakdown else [])
    if sorted(cols) != sorted(wanted):
        raise ValidationError(f"the SQL returns columns {result.columns}; expected {wanted}",
                              hint="select exactly `... as value`" + (f" and `{spec.breakdown}`" if spec.breakdown
                                                                        else ""))
    if result.truncated:
        raise ValidationError(f"the SQL returns more than {MAX_ROWS} rows", hint="aggregate to one row per key")
    rows = result.table.to_pylist()
    lower = {c.lower(): c for c in result.columns}
    if not spec.breakdown and len(rows) != 1:
        raise ValidationError(f"the SQL returns {len(rows)} rows; an indicator without a breakdown needs one",
                              hint="aggregate (sum, avg, count ...) or add --by <column>")
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for row in rows:
        raw_key = row[lower[spec.breakdown.lower()]] if spec.breakdown else None
        key = "" if raw_key is None else str(raw_key)
        if key in seen:
            raise ValidationError(f"the SQL returns two rows for {key or 'the city-wide value'!r}",
                                  hint=f"group by {spec.breakdown}")
        seen.add(key)
        out.append((key, number(row[lower["value"]], key)))
    return out


def compute(name: str, by: Principal | None = None, *, now: datetime | None = None,
            bus: Bus | None = None) -> dict[str, Any]:
    """Compute one indicator now; its state afterwards (with `error` and `stale` if this run failed)."""
    by = acting(by)
    now = now or utcnow()
    claimed = _claim(name, by, now)
    if not isinstance(claimed, Spec):
        return claimed
    spec = claimed
    values: list[tuple[str, float]] | None = None
    error: str | None = "the computation stopped unexpectedly"
    with audit.reads_held() as held:  # the read is audited in the transaction keeping its value
        try:
            values, error = evaluate(spec), None
        except UrbanBrainError as exc:
            error = _text(exc)
        finally:  # whatever happened, the claim is released with the outcome
            out = _store_many([(spec, values, error)], by, now, bus, held)[0]
    return out


def _text(exc: UrbanBrainError) -> str:
    return exc.message + (f" (hint: {exc.hint})" if exc.hint else "")


def _claim(name: str, by: Principal, now: datetime) -> Spec | dict[str, Any]:
    """Authorise and mark the indicator running; its state instead when a computation is still running."""
    with session_scope() as s:
        return _claim_in(s, name, by, now)


def _claim_in(s: Any, name: str, by: Principal, now: datetime) -> Spec | dict[str, Any]:
    row = indicator_row(s, name)
    authorize("indicator.compute", by, department=row.department)
    spec = Spec(row.id, row.name, row.sql, row.breakdown, row.department, row.function)
    claimed = s.execute(update(Indicator).where(
        Indicator.id == row.id, or_(Indicator.running_since.is_(None),
                                    Indicator.running_since < now - RUNNING_TIMEOUT))
        .values(running_since=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:  # the previous computation has not finished: say so on the indicator, run nothing
        started = as_utc(row.running_since).isoformat() if row.running_since else "?"
        row.error, row.error_at, row.stale = (f"the previous computation (started {started}) is still "
                                              "running; this one was skipped (hint: choose a longer "
                                              "schedule or make the SQL cheaper)"), now, row.computed_at is not None
        return indicator_public(row)
    return spec


def compute_many(names: list[str], by: Principal | None = None, *, now: datetime | None = None,
                 bus: Bus | None = None) -> list[dict[str, Any]]:
    """Compute several indicators: each owner's queries run together on one governed connection
    (`govern.batch.run_groups`: the views are built once, every owner's kept connection checked and
    every policy decided in one go), each indicator claimed, checked, stored and
    alerted on as `compute` does; one failing never stops the rest."""
    by = acting(by)
    now = now or utcnow()
    results: dict[str, dict[str, Any]] = {}
    specs: dict[str, list[Spec]] = {}
    functions: list[Spec] = []
    with session_scope(durable=False) as s:  # every claim in one transaction, not waiting for the disk: a
        for name, claimed in _claim_many(s, names, by, now).items():  # claim lost in a power cut lapses anyway
            if isinstance(claimed, Spec) and claimed.function:
                functions.append(claimed)
            elif isinstance(claimed, Spec):
                specs.setdefault(claimed.department, []).append(claimed)
            else:
                results[name] = claimed
    outcomes: dict[str, Outcome] = {}
    with audit.reads_held() as held:  # every read of the run audited in ONE append, with the results
        _run_many(functions, specs, outcomes, results, by, now, bus, held)
    return [results[n] for n in names if n in results]


def _run_many(functions: list[Spec], specs: dict[str, list[Spec]], outcomes: dict[str, Outcome],
              results: dict[str, dict[str, Any]], by: Principal, now: datetime, bus: Bus | None,
              held: audit.Held) -> None:
    """`compute_many`'s queries, checks and storing (its reads held in `held`)."""
    from urbanbrain.govern.batch import run_groups

    try:
        for spec in functions:  # each function on its own, as its owner
            try:
                outcomes[spec.name] = (spec, evaluate(spec), None)
            except UrbanBrainError as exc:
                outcomes[spec.name] = (spec, None, _text(exc))
        groups = list(specs.values())
        try:  # every department's kept connection checked in one go, each group on its own reader's
            answered = run_groups([(reader(g[0]), [sp.sql for sp in g], None) for g in groups], MAX_ROWS)
        except Exception:  # an unexpected failure: each owner again on its own, so one never stops the rest
            log.exception("computing indicators together failed; each department alone")
            answered = [_group_alone(g) for g in groups]
        for group, answers in zip(groups, answered, strict=True):
            for spec, answer in zip(group, answers, strict=True):
                values: list[tuple[str, float]] | None = None
                error: str | None = None
                try:
                    if isinstance(answer, UrbanBrainError):
                        raise answer
                    values = check_shape(spec, answer)
                except UrbanBrainError as exc:
                    error = _text(exc)
                outcomes[spec.name] = (spec, values, error)
    finally:  # every claim is released with its outcome, in ONE transaction for the whole run
        ordered = [outcomes.get(sp.name) or (sp, None, "the computation stopped unexpectedly")
                   for sp in functions + [sp for group in specs.values() for sp in group]]
        for (spec, _, _), stored in zip(ordered, _store_many(ordered, by, now, bus, held), strict=True):
            results[spec.name] = stored


def _group_alone(group: list[Spec]) -> list[Any]:
    from urbanbrain.govern.batch import run_queries

    try:
        return list(run_queries([sp.sql for sp in group], MAX_ROWS, principal=reader(group[0])))
    except Exception as exc:  # the claims are released with this error
        log.exception("indicators of %s failed", group[0].department)
        return [UrbanBrainError(f"{type(exc).__name__}: {exc}")] * len(group)


@lru_cache(maxsize=1)
def _claim_statements() -> tuple[Any, Any, Any]:
    """Read, claim and re-read by a list of names/ids bound at execution (`expanding`): built once, as
    building an IN of ninety literals cost more than running it."""
    ids: Any = bindparam("ids", expanding=True)
    now = bindparam("now", type_=_T.c.running_since.type)
    return (select(_T.c.id, _T.c.name, _T.c.sql, _T.c.breakdown, _T.c.department, _T.c.function)
            .where(_T.c.name.in_(bindparam("names", expanding=True))),
            update(_T).where(_T.c.id.in_(ids), or_(_T.c.running_since.is_(None),
                                                   _T.c.running_since < bindparam("lapsed", type_=now.type)))
            .values(running_since=now),
            select(_T.c.id).where(_T.c.id.in_(ids), _T.c.running_since == now))


def _claim_many(s: Any, names: list[str], by: Principal, now: datetime) -> dict[str, Spec | dict[str, Any]]:
    """Authorise and claim `names` with one read and one conditional update; what each became: its
    `Spec` when claimed, else its state (still running) or an error (not allowed, not found)."""
    conn = s.connection()
    read, claim, claimed_of = _claim_statements()
    rows = {r.name: r for r in conn.execute(read, {"names": names})} if names else {}
    out: dict[str, Spec | dict[str, Any]] = {}
    allowed: list[Any] = []
    for name in names:
        row = rows.get(name)
        try:
            if row is None:
                raise NotFoundError(f"no indicator {name!r}")
            authorize("indicator.compute", by, department=row.department)
        except UrbanBrainError as exc:  # not allowed, deleted meanwhile: say so and go on
            out[name] = {"name": name, "error": exc.message, "stale": None}
            continue
        allowed.append(row)
    ids = [r.id for r in allowed]
    if not ids:
        return out
    conn.execute(claim, {"ids": ids, "now": now, "lapsed": now - RUNNING_TIMEOUT})
    claimed = set(conn.scalars(claimed_of, {"ids": ids, "now": now}))
    for found in allowed:
        if found.id in claimed:
            out[found.name] = Spec(found.id, found.name, found.sql, found.breakdown, found.department, found.function)
            continue
        row = s.get(Indicator, found.id)  # the previous computation has not finished: say so on it, run nothing
        if row is None:
            out[found.name] = {"name": found.name, "error": f"no indicator {found.name!r}", "stale": None}
            continue
        started = as_utc(row.running_since).isoformat() if row.running_since else "?"
        row.error, row.error_at, row.stale = (f"the previous computation (started {started}) is still "
                                              "running; this one was skipped (hint: choose a longer "
                                              "schedule or make the SQL cheaper)"), now, row.computed_at is not None
        out[row.name] = indicator_public(row)
    return out


Outcome = tuple[Spec, list[tuple[str, float]] | None, str | None]
# what a computation changes: every column when it succeeded, the error's when it failed
_DONE: tuple[str, ...] = ("next_run_at", "running_since", "value", "computed_at", "stale", "error", "error_at",
                          "state", "alert_id")
_FAILED: tuple[str, ...] = ("next_run_at", "running_since", "error", "error_at", "stale")


@lru_cache(maxsize=1)
def _read_by_ids() -> Any:
    return select(_T).where(_T.c.id.in_(bindparam("ids", expanding=True)))


@lru_cache(maxsize=2)
def _update_of(cols: tuple[str, ...]) -> Any:
    """One UPDATE by id with bound values, run once for many rows (an executemany)."""
    return update(_T).where(_T.c.id == bindparam("b_id")).values({c: bindparam(f"b_{c}") for c in cols})


def _store_many(outcomes: list[Outcome], by: Principal, now: datetime, bus: Bus | None,
                held: audit.Held | None = None) -> list[dict[str, Any]]:
    """Keep the outcomes in one metadata transaction — the rows read in one query, the new states in
    one UPDATE executed for many rows (no ORM unit of work: ~90 objects' change tracking cost more
    than the statements), every point in one insert, the run's held reads (`audit.reads_held`) and
    the audit entries of the changed lights in one append — then publish: alerts for lights that got
    worse, and `indicators.computed` for live screens."""
    events: list[tuple[str, dict[str, Any]]] = []
    out: list[dict[str, Any]] = []
    points: list[tuple[str, str, float]] = []  # (indicator id, key, value), all at `now`
    audits: list[tuple[Principal | None, str, str, dict[str, Any] | None]] = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {_DONE: [], _FAILED: []}
    with session_scope() as s:
        conn = s.connection()
        ids = [spec.id for spec, _, _ in outcomes]
        rows = {r.id: SimpleNamespace(**r._mapping) for r in conn.execute(_read_by_ids(), {"ids": ids})
                } if ids else {}
        for spec, values, error in outcomes:
            row = rows.get(spec.id)
            if row is None:  # deleted while its query ran: nothing to keep
                out.append({"name": spec.name, "deleted": True})
                continue
            event = _apply(row, values, error, by, now, points, audits)
            cols = _DONE if values is not None else _FAILED
            changed[cols].append({"b_id": row.id, **{f"b_{c}": getattr(row, c) for c in cols}})
            if event is not None:
                events.append(event)
            public = indicator_public(row)
            out.append(public)
            events.append(("indicators.computed", {
                "name": row.name, "department": row.department, "theme": row.theme, "value": row.value,
                "state": row.state, "stale": row.stale, "error": row.error, "at": now.isoformat(),
                "breakdown": dict(values or [])}))
        for cols, params in changed.items():
            if params:
                conn.execute(_update_of(cols), params)
        if points:  # through the driver in one statement: Core's per-row parameter processing cost ~3 ms a run
            at = driver_time(conn, now)
            insert_many(conn, "indicator_values", ("indicator_id", "at", "key", "value"),
                        [(i, at, k, v) for i, k, v in points])
        if audits or held:
            audit.record_all(audits, session=s, held=held or ())
    if held:  # committed with the results: nothing left for `reads_held` to buffer
        held.clear()
    publish = (bus or get_bus()).publish
    for topic, payload in events:
        publish(topic, payload)
    return out


def _apply(row: Any, values: list[tuple[str, float]] | None, error: str | None, by: Principal,
           now: datetime, points: list[tuple[str, str, float]],
           audits: list[tuple[Principal | None, str, str, dict[str, Any] | None]]
           ) -> tuple[str, dict[str, Any]] | None:
    """The new state of `row` (an indicator's columns, changed in place); its points and audit entry are
    added to `points` and `audits`."""
    row.next_run_at = parse_schedule(row.schedule).next_after(now)
    row.running_since = None
    if values is None:
        row.error, row.error_at, row.stale = error, now, row.computed_at is not None
        log.warning("indicator %s: %s", row.name, error)
        return None
    warn, alarm = parse_threshold(row.warn), parse_threshold(row.alarm)
    state = worst([light(v, warn, alarm) for _, v in values])
    total = dict(values).get("")
    points.extend((row.id, k, v) for k, v in values)
    previous = row.state
    row.value, row.computed_at, row.stale, row.error, row.error_at = total, now, False, None, None
    row.state = state
    if state == previous:
        return None
    audits.append((by, "indicator.compute", f"indicator:{row.name}", {"from": previous, "to": state, "value": total}))
    return _transition(row, previous, state, values, now)


def _transition(row: Any, previous: str, state: str, values: list[tuple[str, float]],
                now: datetime) -> tuple[str, dict[str, Any]] | None:
    """The bus message for a change of light, if it deserves one (worse: raised; back to ok: cleared)."""
    if state in (WARN, ALARM) and RANK[state] > RANK[previous]:
        row.alert_id = new_id("ialrt")
        event, severity = "raised", SEVERITY[state]
    elif state == OK and row.alert_id is not None:
        event, severity = "cleared", "info"
    else:
        return None
    ordered = sorted(values, key=lambda kv: (bool(kv[0]), kv[0] or ""))  # city-wide first, then by key
    bad = [k or "全市" for k, v in ordered if light(v, parse_threshold(row.warn), parse_threshold(row.alarm)) == state]
    shown = f"{row.value:g}{row.unit}" if row.value is not None else ", ".join(bad[:5])
    message = f"{row.title_zh or row.title_en or row.name}: {shown} — {state}"
    payload = {"event": event, "id": row.alert_id, "alert_id": row.alert_id, "rule": f"indicator:{row.name}",
               "device": f"indicator:{row.name}", "device_id": f"indicator:{row.name}", "feed": "indicators",
               "department": row.department, "severity": severity, "status": event, "message": message,
               "value": row.value, "where": bad, "raised_at": now.isoformat()}
    if event == "cleared":
        row.alert_id = None
    return f"alerts.{severity}", payload


def due(now: datetime | None = None) -> list[str]:
    """Names of indicators whose schedule says they should be computed by `now`."""
    now = now or utcnow()
    with session_scope() as s:
        return list(s.scalars(select(Indicator.name).where(Indicator.next_run_at.is_not(None),
                                                           Indicator.next_run_at <= now).order_by(Indicator.name)))


def compute_all(by: Principal | None = None, *, only_due: bool = False, now: datetime | None = None,
                bus: Bus | None = None) -> list[dict[str, Any]]:
    """Compute every indicator the caller may compute (or only the due ones); one failing never stops the rest."""
    by = acting(by)
    with session_scope() as s:
        names = due(now) if only_due else list(s.scalars(select(Indicator.name).order_by(Indicator.name)))
    if not only_due:
        return compute_many(names, by, now=now, bus=bus)
    held = []  # scheduled: one process computes each indicator (leases), the held ones together
    for name in names:
        lease = leases.hold(f"indicator:{name}")
        if lease is not None:
            lease.__enter__()
            held.append((name, lease))
    try:
        return compute_many([name for name, _ in held], by, now=now, bus=bus)
    finally:
        for _, lease in held:
            lease.__exit__(None, None, None)


def compute_loop(stop: threading.Event, by: Principal | None = None, *, every: float = 60.0,
                 bus: Bus | None = None) -> int:
    """Compute the due indicators every `every` seconds until `stop` is set (`urbanbrain indicator compute
    --all --due --every 60`); safe in several processes, as each computation claims its indicator.
    Returns how many computations ran."""
    by = acting(by)
    ran = 0
    while True:
        try:
            ran += len(compute_all(by, only_due=True, bus=bus))
        except Exception:  # the metadata store is down, say: retried next tick
            log.exception("computing due indicators failed; retrying in %.0f s", every)
        if stop.wait(every):
            return ran
