"""Service functions for department systems: register, test, discover, list, remove.

The one place these operations live; the API, the CLI, the scheduler and the demo all call them.
Connection options are encrypted before they touch the metadata store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from urbanbrain.connect.base import SOURCES, Source, SourceObject, open_source
from urbanbrain.connect.guards import check_source
from urbanbrain.connect.precheck import check_form, precheck
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, UrbanBrainError, ValidationError
from urbanbrain.core.naming import sql_identifier, validate_code
from urbanbrain.core.schedule import parse_schedule
from urbanbrain.core.secrets import decrypt, encrypt, redact_text, redact_url, secret_values
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import get_department_row
from urbanbrain.meta.models import SourceObjectRecord, System
from urbanbrain.meta.schemas import SourceObjectPublic, SystemPublic


def system_public(session: Session, system: System) -> SystemPublic:
    count = session.scalar(
        select(func.count()).select_from(SourceObjectRecord).where(SourceObjectRecord.system_id == system.id)
    )
    return SystemPublic(
        id=system.id, name=system.name, department=system.department.code, kind=system.kind,
        display_url=system.display_url, schedule=system.schedule, owner=system.owner,
        description=system.description, health=system.health, health_reason=system.health_reason,
        health_checked_at=system.health_checked_at, next_run_at=system.next_run_at,
        last_sync_at=system.last_sync_at, objects=int(count or 0), created_at=system.created_at,
    )


def _display(options: dict[str, Any]) -> str:
    for key in ("url", "path"):
        if options.get(key):
            return redact_url(str(options[key]))
    return ""


def add_system(
    name: str,
    dept: str,
    kind: str,
    options: dict[str, Any],
    *,
    schedule: str | None = None,
    owner: str | None = None,
    description: str | None = None,
    by: Principal | None = None,
) -> SystemPublic:
    """Register a system; validates kind, options and schedule now, so mistakes surface at once."""
    by = acting(by)
    with session_scope() as s:
        authorize("system.add", by, get_department_row(s, dept).code)
    validate_code(name, "system name")
    SOURCES.get(kind)  # unknown kinds fail here, listing the known ones
    sched = parse_schedule(schedule)
    check_form(kind, options)
    check_source(kind, options, by)
    source = open_source(kind, options)  # constructors validate their options without connecting
    source.close()
    checks = precheck(kind, options)  # path exists, URL parses, host resolves: said now, not at discover
    with session_scope() as s:
        department = get_department_row(s, dept)
        if s.scalar(select(System).where(System.name == name)):
            raise AlreadyExistsError(f"a system named {name!r} already exists",
                                     hint="choose another name, or remove the old one first")
        clash = s.scalars(select(System).where(System.department_id == department.id)).all()
        if any(sql_identifier(o.name) == sql_identifier(name) for o in clash):
            raise AlreadyExistsError(f"system name {name!r} collides with an existing name in SQL",
                                     hint="names differing only by '-' and '_' map to the same dataset name")
        now = utcnow()
        system = System(
            name=name, department_id=department.id, kind=kind, options_secret=encrypt(options),
            display_url=_display(options), schedule=sched.text, owner=owner, description=description,
            next_run_at=sched.next_after(now),
        )
        s.add(system)
        s.flush()
        s.refresh(system)
        public = system_public(s, system).model_copy(update={"checks": checks})
    record(by, "system.add", f"system:{name}", {"department": public.department, "kind": kind,
                                                "display_url": public.display_url, "schedule": public.schedule})
    return public


def update_system(name: str, *, options: dict[str, Any] | None = None, schedule: str | None = None,
                  owner: str | None = None, replace_options: bool = False,
                  by: Principal | None = None) -> SystemPublic:
    """Change a system. New options are merged over the stored ones (so changing the URL keeps the
    table list) unless `replace_options`. Options and owner are the department admin's; the schedule
    is also its operators'."""
    by = acting(by)
    with session_scope() as s:
        system = get_system_row(s, name)
        dept = system.department.code
        if options is not None or owner is not None:
            authorize("system.update", by, dept)
        if schedule is not None:
            authorize("system.schedule", by, dept)
        if options is not None:
            if not replace_options:
                options = {**decrypt(system.options_secret), **options}
            check_form(system.kind, options)
            check_source(system.kind, options, by)
            open_source(system.kind, options).close()
            precheck(system.kind, options)
            system.options_secret = encrypt(options)
            system.display_url = _display(options)
        if schedule is not None:
            sched = parse_schedule(schedule)
            system.schedule = sched.text
            system.next_run_at = sched.next_after(utcnow())
        if owner is not None:
            system.owner = owner
        public = system_public(s, system)
    record(by, "system.update", f"system:{name}", {"options": options is not None, "display_url": public.display_url,
                                                   "schedule": schedule, "owner": owner})
    return public


def authorize_on_system(action: str, name: str, by: Principal | None = None) -> Principal:
    """Check `action` against the department owning system `name`; returns the acting principal."""
    by = acting(by)
    with session_scope() as s:
        authorize(action, by, get_system_row(s, name).department.code)
    return by


def get_system_row(session: Session, name: str) -> System:
    system = session.scalar(select(System).where(System.name == name))
    if system is None:
        raise NotFoundError(f"no system named {name!r}", hint="list them with `urbanbrain system list`")
    return system


def get_system(name: str) -> SystemPublic:
    with session_scope() as s:
        return system_public(s, get_system_row(s, name))


def list_systems(dept: str | None = None) -> list[SystemPublic]:
    with session_scope() as s:
        query = select(System).order_by(System.name)
        if dept:
            query = query.where(System.department_id == get_department_row(s, dept).id)
        return [system_public(s, sys) for sys in s.scalars(query)]


def system_options(name: str) -> tuple[str, dict[str, Any]]:
    """Decrypted (kind, options): only connectors ever see these."""
    with session_scope() as s:
        system = get_system_row(s, name)
        return system.kind, decrypt(system.options_secret)


@contextmanager
def opened_source(name: str) -> Iterator[Source]:
    kind, options = system_options(name)
    source = open_source(kind, options)
    try:
        yield source
    finally:
        source.close()


def scrub(name: str, error: UrbanBrainError) -> UrbanBrainError:
    """Belt and braces: no stored secret may leak through an error's text."""
    _, options = system_options(name)
    secrets = secret_values(options)
    error.message = redact_text(error.message, secrets)
    error.args = (str(error),)
    return error


def named(error: UrbanBrainError, system_name: str) -> UrbanBrainError:
    """Errors name the system by its name; a connector's URL for it is kept as `source`."""
    shown = error.context.get("system")
    if shown is not None and shown != system_name:
        error.context.setdefault("source", shown)
    error.context["system"] = system_name
    return error


def record_health(name: str, healthy: bool, reason: str | None = None) -> None:
    with session_scope() as s:
        system = get_system_row(s, name)
        system.health = "healthy" if healthy else "unhealthy"
        system.health_reason = reason
        system.health_checked_at = utcnow()


def test_system(name: str, *, by: Principal | None = None) -> SystemPublic:
    """Reachable? Credentials accepted? Records the answer as the system's health."""
    by = authorize_on_system("system.test", name, by)
    try:
        with opened_source(name) as source:
            source.test()
    except UrbanBrainError as exc:
        err = named(scrub(name, exc), name)
        record_health(name, False, str(err))
        raise err from None
    record_health(name, True, None)
    record(by, "system.test", f"system:{name}", {"health": "healthy"})
    return get_system(name)


def discover_system(name: str, *, by: Principal | None = None) -> list[SourceObjectPublic]:
    """List what the system holds and remember it; objects that vanished are disabled, not deleted."""
    by = authorize_on_system("system.discover", name, by)
    try:
        with opened_source(name) as source:
            found: list[SourceObject] = source.discover()
    except UrbanBrainError as exc:
        err = named(scrub(name, exc), name)
        record_health(name, False, str(err))
        raise err from None
    now = utcnow()
    with session_scope() as s:
        system = get_system_row(s, name)
        existing = {o.name: o for o in system.objects}
        for obj in found:
            row = existing.pop(obj.name, None)
            if row is None:
                row = SourceObjectRecord(system_id=system.id, name=obj.name)
                s.add(row)
            row.kind = obj.kind
            row.columns = [{"name": c.name, "type": str(c.type), "source_type": c.source_type}
                           for c in obj.columns]
            row.primary_key = list(obj.primary_key)
            row.cursor_candidates = list(obj.cursor_candidates)
            row.row_estimate = obj.row_estimate
            row.discovered_at = now
            row.enabled = True
            if row.cursor_column is None and obj.cursor_candidates and obj.primary_key:
                row.cursor_column = obj.cursor_candidates[0]
        for gone in existing.values():
            gone.enabled = False
        system.health = "healthy"
        system.health_reason = None
        system.health_checked_at = now
    record(by, "system.discover", f"system:{name}", {"objects": [o.name for o in found]})
    return list_objects(name)


def list_objects(name: str) -> list[SourceObjectPublic]:
    with session_scope() as s:
        system = get_system_row(s, name)
        return [SourceObjectPublic.model_validate(o) for o in system.objects]


def configure_object(system: str, object_name: str, *, cursor_column: str | None = None,
                     enabled: bool | None = None, clear_cursor: bool = False,
                     by: Principal | None = None) -> SourceObjectPublic:
    """Choose how a discovered object syncs: its cursor column (incremental) or full refresh."""
    by = authorize_on_system("system.configure_object", system, by)
    with session_scope() as s:
        row = s.scalar(select(SourceObjectRecord).where(
            SourceObjectRecord.system_id == get_system_row(s, system).id,
            SourceObjectRecord.name == object_name))
        if row is None:
            raise NotFoundError(f"system {system!r} has no object {object_name!r}",
                                hint="run `urbanbrain system discover` first")
        if cursor_column is not None:
            if cursor_column not in [c["name"] for c in row.columns]:
                raise NotFoundError(f"object {object_name!r} has no column {cursor_column!r}")
            _refuse_unsafe_cursor(system, object_name, cursor_column)
            row.cursor_column = cursor_column
        if clear_cursor:
            row.cursor_column = None
        if enabled is not None:
            row.enabled = enabled
        public = SourceObjectPublic.model_validate(row)
    record(by, "system.configure_object", f"system:{system}/{object_name}",
           {"cursor_column": public.cursor_column, "enabled": public.enabled})
    return public


def _refuse_unsafe_cursor(system: str, object_name: str, column: str) -> None:
    """A connector that cannot read rows *at* the cursor value would lose rows at a tie: say so now."""
    with opened_source(system) as source:
        check = getattr(source, "cursor_problem", None)
        reason = check(object_name, column) if check is not None else None
    if reason:
        raise ValidationError(f"cursor {column!r} cannot be used for {object_name!r}: {reason}",
                              hint="leave the object on full refresh, or fix the endpoint configuration")


def remove_system(name: str, *, purge: bool = False, by: Principal | None = None) -> None:
    """Remove a system. Its lake tables and run history go too, but only when `purge` says so:
    removing a system must never silently delete aggregated data."""
    from urbanbrain.meta.models import Dataset, SyncRun

    by = authorize_on_system("system.remove", name, by)
    with session_scope() as s:
        system = get_system_row(s, name)
        datasets = list(s.scalars(select(Dataset).where(Dataset.system_id == system.id)))
        if datasets and not purge:
            raise ValidationError(
                f"system {name!r} still has {len(datasets)} dataset(s) in the lake",
                hint="pass --purge (API: ?purge=true) to drop its datasets and run history too",
            )
        dropped = [tuple(d.table_identifier.split(".")) for d in datasets]
        for ds in datasets:
            s.delete(ds)
        for run in s.scalars(select(SyncRun).where(SyncRun.system_id == system.id)):
            s.delete(run)
        s.delete(system)
    record(by, "system.remove", f"system:{name}", {"purge": purge, "datasets": [".".join(d) for d in dropped]})
    if dropped:
        _drop_tables(dropped)


def _drop_tables(identifiers: list[tuple[str, ...]]) -> None:
    """Purge lake tables of a removed system. `connect` may not import `lake`, so this goes through
    the catalog registered for the metadata database directly."""
    from pyiceberg.catalog.sql import SqlCatalog

    from urbanbrain.core.settings import get_settings

    settings = get_settings()
    catalog = SqlCatalog("urbanbrain", uri=settings.metadata_url, warehouse=f"file://{settings.warehouse_path}")
    for ident in identifiers:
        if catalog.table_exists(ident):
            catalog.purge_table(ident)
