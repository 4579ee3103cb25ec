"""Service functions for feeds, devices, live state and dead letters (CLI and API call these).

Feeds, their devices, state and history belong to the feed's department. Changes are authorised by
`govern.authz` and audited; live state is read through the same policy as the feed's history
dataset (`govern.policy.policy_for`): attributes the reader may not see are left out, masked ones
masked, and the read is audited like any read of data.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.core.naming import dataset_name, validate_code
from urbanbrain.core.secrets import decrypt, encrypt, redact_url
from urbanbrain.govern import access
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import get_department_row
from urbanbrain.meta.models import DeadLetter, DeviceState, Feed, System
from urbanbrain.stream.payloads import PayloadSpec
from urbanbrain.stream.pipeline import FeedConfig

FORMATS = ("ngsi", "json", "csv")


def _row(s: Session, name: str) -> Feed:
    feed = s.scalar(select(Feed).where(Feed.name == name))
    if feed is None:
        raise NotFoundError(f"no feed named {name!r}", hint="list them with `urbanbrain feed list`")
    return feed


def feed_public(feed: Feed, devices: int = 0) -> dict[str, Any]:
    options = decrypt(feed.options_secret)
    return {"name": feed.name, "department": feed.department.code, "kind": feed.kind,
            "url": redact_url(str(options.get("url", ""))) if options.get("url") else None,
            "topic": options.get("topic") or options.get("subject"), "model": feed.model, "format": feed.format,
            "enabled": feed.enabled, "messages": feed.messages_total, "readings": feed.readings_total,
            "dead_letters": feed.dead_letters_total, "devices": devices,
            "last_message_at": feed.last_message_at.isoformat() if feed.last_message_at else None,
            "dataset": dataset_name(feed.department.code, feed.name, "observations")}


def create_feed(by: Principal, name: str, dept: str, kind: str, options: dict[str, Any], *,
                model: str | None = None, fmt: str = "ngsi", mapping: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register a feed and its history table. For `http` feeds the answer holds the push key, once."""
    from urbanbrain.stream import schemas
    from urbanbrain.stream.feeds.base import FEEDS, open_feed
    from urbanbrain.stream.history import History

    validate_code(name, "feed name")
    authorize("feed.create", by, department=dept)
    FEEDS.get(kind)
    if fmt not in FORMATS:
        raise ValidationError(f"unknown payload format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if model:
        schemas.model_schema(model)
    if fmt != "ngsi" and not mapping:
        raise ValidationError(f"a {fmt} feed needs a mapping (id, time and attribute paths or columns)",
                              hint="e.g. --id '$.dev' --time '$.ts' --attr pm25=$.pm25")
    open_feed(kind, name, options)  # validates options without connecting
    key = secrets.token_urlsafe(32) if kind == "http" else None
    with session_scope() as s:
        department = get_department_row(s, dept)
        if s.scalar(select(Feed).where(Feed.name == name)) or s.scalar(select(System).where(System.name == name)):
            raise AlreadyExistsError(f"a feed or system named {name!r} already exists", hint="choose another name")
        system = System(name=name, department_id=department.id, kind="feed", options_secret=encrypt({}),
                        display_url=f"{kind}:{redact_url(str(options.get('url', '')))}", schedule="manual",
                        description=f"live feed ({kind})")
        s.add(system)
        s.flush()
        feed = Feed(name=name, department_id=department.id, system_id=system.id, kind=kind,
                    options_secret=encrypt(options), model=model, format=fmt, mapping=mapping or {},
                    key_hash=hashlib.sha256(key.encode()).hexdigest() if key else None, created_by=by.label)
        s.add(feed)
        s.flush()
        s.refresh(feed)
        out = feed_public(feed)
        system_id = system.id
    History(dept, name, system_id).open()
    access.on_change(by, "feed.create", name, {"department": dept, "kind": kind, "model": model})
    if key:
        out["key"] = key
    return out


def delete_feed(by: Principal, name: str, *, purge: bool = False) -> None:
    """Remove a feed with its devices, dead letters and rules; `purge` also drops its history and rollups."""
    with session_scope() as s:
        feed = _row(s, name)
        dept = feed.department.code
        authorize("feed.delete", by, department=dept)
        system = s.get(System, feed.system_id)
        s.delete(feed)
        if purge and system is not None:
            from urbanbrain.meta.models import Dataset

            for ds in s.scalars(select(Dataset).where(Dataset.system_id == system.id)):
                s.delete(ds)
            s.flush()
            s.delete(system)
    if purge:
        from urbanbrain.lake.catalog import get_catalog

        for table in ("observations", "rollups"):
            ident = tuple(dataset_name(dept, name, table).split("."))
            if get_catalog().table_exists(ident):
                get_catalog().purge_table(ident)
    access.on_change(by, "feed.delete", name, {"department": dept, "purge": purge})


def list_feeds(dept: str | None = None) -> list[dict[str, Any]]:
    with session_scope() as s:
        counts = dict(s.execute(select(DeviceState.feed_id, func.count()).group_by(DeviceState.feed_id)).all())
        feeds = list(s.scalars(select(Feed).order_by(Feed.name)))
        return [feed_public(f, int(counts.get(f.id, 0))) for f in feeds
                if dept is None or f.department.code == dept]


def feed_config(name: str) -> FeedConfig:
    with session_scope() as s:
        f = _row(s, name)
        return FeedConfig(f.id, f.name, f.department.code, f.system_id, f.kind, decrypt(f.options_secret),
                          PayloadSpec(f.format, f.model, dict(f.mapping or {})))


def check_feed_key(name: str, key: str | None) -> FeedConfig:
    """The HTTP push check: the feed exists, is an http feed, and the key is its key."""
    with session_scope() as s:
        f = s.scalar(select(Feed).where(Feed.name == name))
        if f is None or f.kind != "http" or not f.key_hash or not key or not secrets.compare_digest(
                hashlib.sha256(key.encode()).hexdigest(), f.key_hash):
            raise PermissionDeniedError(f"no HTTP feed {name!r} with that key",
                                        hint="send the key shown by `urbanbrain feed add` in the X-Feed-Key header")
    return feed_config(name)


def feed_status(by: Principal, name: str, silent_after: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    """Counters, devices, silent devices and the last dead letters (the owner's operators see reasons)."""
    now = utcnow()
    with session_scope() as s:
        f = _row(s, name)
        dept = f.department.code
        authorize("feed.status", by, department=dept)
        devices = list(s.scalars(select(DeviceState).where(DeviceState.feed_id == f.id)))
        silent = sorted(d.device_id for d in devices if now - as_utc(d.last_seen) > silent_after)
        letters = list(s.scalars(select(DeadLetter).where(DeadLetter.feed_id == f.id)
                                 .order_by(DeadLetter.id.desc()).limit(20)))
        out = feed_public(f, len(devices))
        out["silent_devices"] = silent
        out["last_error"] = f.last_error
        out["recent_dead_letters"] = [{"at": as_utc(d.received_at).isoformat(), "device_id": d.device_id,
                                       "reason": d.reason, "bytes": d.raw_bytes} for d in letters]
        out["last_seen"] = {d.device_id: as_utc(d.last_seen).isoformat() for d in devices}
    return out


def dead_letters(by: Principal, name: str, limit: int = 100) -> list[dict[str, Any]]:
    with session_scope() as s:
        f = _row(s, name)
        authorize("feed.status", by, department=f.department.code)
        rows = s.scalars(select(DeadLetter).where(DeadLetter.feed_id == f.id).order_by(DeadLetter.id.desc())
                         .limit(max(1, min(limit, 1000))))
        return [{"id": d.id, "at": as_utc(d.received_at).isoformat(), "device_id": d.device_id,
                 "reason": d.reason, "raw": d.raw, "bytes": d.raw_bytes} for d in rows]


# --- live state -----------------------------------------------------------------------------------


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def parse_distance(text: str) -> float:
    """`3km`, `500m`, `500` (metres)."""
    t = text.strip().lower()
    try:
        if t.endswith("km"):
            return float(t[:-2]) * 1000
        return float(t.removesuffix("m"))
    except ValueError:
        raise ValidationError(f"{text!r} is not a distance", hint="e.g. 3km or 500m") from None


def parse_point(text: str, option: str) -> tuple[float, float]:
    """`lon,lat`; `option` is how the caller spells the input in its error (`--near `, `near=`)."""
    try:
        lon, lat = (float(x) for x in text.split(","))
    except ValueError:
        raise ValidationError(f"{option}{text!r} is not lon,lat", hint=f"e.g. {option}112.98,28.20") from None
    return lon, lat


def live_state(by: Principal, *, type: str | None = None, feed: str | None = None, device: str | None = None,
               near: tuple[float, float] | None = None, max_distance_m: float | None = None,
               where: dict[str, Any] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Current state of devices the principal may see, nearest first when `near` is given.

    Per feed, the attributes come through the policy of its history dataset: hidden attributes are
    absent, masked ones masked (locations classified as PII are coarsened to ~1 km)."""
    from urbanbrain.govern.policy import RAW, policy_for

    out: list[dict[str, Any]] = []
    with session_scope() as s:
        query = select(Feed)
        if feed:
            query = query.where(Feed.name == feed)
        feeds = list(s.scalars(query))
        if feed and not feeds:
            raise NotFoundError(f"no feed named {feed!r}", hint="list them with `urbanbrain feed list`")
        for f in feeds:
            dept = f.department.code
            policy = policy_for(by, dataset_name(dept, f.name, "observations"))
            visible = {c.name: c.method for c in policy.columns}
            if "device_id" not in visible:
                continue
            q = select(DeviceState).where(DeviceState.feed_id == f.id)
            if type:
                q = q.where(DeviceState.type == type)
            if device:
                q = q.where(DeviceState.device_id == device)
            rows = list(s.scalars(q))
            shown: list[dict[str, Any]] = []
            for d in rows:
                item = _visible_device(f.name, d, None if by.in_department(dept) else visible, RAW)
                if near and (item["lon"] is None or item["lat"] is None):
                    continue
                if near:
                    item["distance_m"] = round(distance_m(near[0], near[1], item["lon"], item["lat"]), 1)
                    if max_distance_m is not None and item["distance_m"] > max_distance_m:
                        continue
                if where and not all(_matches(item["attributes"].get(k, {}).get("value"), v)
                                     for k, v in where.items()):
                    continue
                shown.append(item)
            if shown:
                access.on_read(by, policy.dataset, ["device_id", *sorted({k for i in shown for k in i["attributes"]})],
                               len(shown), policy.masked, policy.grant_id)
            out.extend(shown)
    if near:
        out.sort(key=lambda i: i["distance_m"])
    return out[:limit]


def _visible_device(feed: str, d: DeviceState, visible: dict[str, str] | None, raw: str) -> dict[str, Any]:
    """`visible` None: the owning department, which sees everything (even attributes not yet in history)."""
    from urbanbrain.stream.history import column_for

    if visible is None:
        visible = {column_for(n): raw for n in (d.attributes or {})} | {"lon": raw, "lat": raw}
    attrs = {}
    for name, cell in (d.attributes or {}).items():
        method = visible.get(column_for(name))
        if method is None:
            continue
        attrs[name] = cell if method == raw else {**cell, "value": None, "masked": method}
    lon, lat = d.lon, d.lat
    if "lon" not in visible or "lat" not in visible:
        lon = lat = None
    elif visible["lon"] != raw or visible["lat"] != raw:
        lon = round(lon, 2) if lon is not None else None
        lat = round(lat, 2) if lat is not None else None
    return {"feed": feed, "device_id": d.device_id, "type": d.type, "department": d.department,
            "observed_at": as_utc(d.observed_at).isoformat() if d.observed_at else None,
            "last_seen": as_utc(d.last_seen).isoformat(), "lon": lon, "lat": lat, "attributes": attrs}


def _matches(value: Any, expected: Any) -> bool:
    """`where` values: a plain value (equal), or `>x`, `<x`, `>=x`, `<=x` as text."""
    if isinstance(expected, str) and expected[:1] in "<>" and value is not None:
        op = expected[:2] if expected[1:2] == "=" else expected[:1]
        try:
            limit, v = float(expected[len(op):]), float(value)
        except (TypeError, ValueError):
            return False
        return {">": v > limit, "<": v < limit, ">=": v >= limit, "<=": v <= limit}[op]
    return bool(value == expected or str(value) == str(expected))


# --- history ----------------------------------------------------------------------------------------

GRAINS = {"raw": None, "1m": "minute", "1h": "hour", "1d": "day"}


def history(by: Principal, feed: str, *, device: str | None = None, attribute: str | None = None,
            since: str | None = None, until: str | None = None, grain: str = "raw", limit: int = 10_000) -> Any:
    """Readings of a feed from its history dataset, raw or downsampled (min, max, avg, count, last per
    device and bucket), read through the SQL engine and so through the same policy as any query."""
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident
    from urbanbrain.stream.history import column_for
    from urbanbrain.stream.payloads import DEVICE_ID, parse_time

    if grain not in GRAINS:
        raise ValidationError(f"unknown grain {grain!r}", hint="use raw, 1m, 1h or 1d")
    with session_scope() as s:
        f = _row(s, feed)
        name = dataset_name(f.department.code, f.name, "observations")
    from urbanbrain.lake.datasets import get_dataset

    columns = [c["name"] for c in get_dataset(name).columns]
    table = ".".join(quote_ident(p) for p in name.split("."))
    where: list[str] = []
    if device:
        if not DEVICE_ID.match(device):
            raise ValidationError(f"device id {device[:80]!r} is not a valid device id")
        where.append(f"device_id = '{device}'")
    for bound, op in ((since, ">="), (until, "<")):
        if bound:
            try:
                at = parse_time(bound)
            except ValueError as exc:
                raise ValidationError(f"{bound!r} is not a time: {exc}") from None
            where.append(f"observed_at {op} TIMESTAMPTZ '{at.isoformat()}'")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    limit = max(1, min(int(limit), 100_000))
    col = None
    if attribute:
        col = column_for(attribute)
        if col not in columns:
            raise NotFoundError(f"feed {feed!r} has no attribute {attribute!r} in its history",
                                hint="attributes: " + ", ".join(c for c in columns if c not in ("other",))[:300])
    if GRAINS[grain] is None:
        pick = f"device_id, observed_at, {quote_ident(col)}" if col else "*"
        sql = f"SELECT {pick} FROM {table}{cond} ORDER BY observed_at, device_id LIMIT {limit}"
    else:  # the rollups kept as history is written (stream/rollups.py), under the history's policy
        if not col:
            raise ValidationError("a downsampled history needs --attribute", hint="e.g. attribute=pm25")
        rollups = ".".join(quote_ident(p) for p in dataset_name(name.split(".")[0], name.split(".")[1],
                                                                  "rollups").split("."))
        conds = [f"grain = '{grain}'", f"attribute = '{col}'",
                 *(w.replace("observed_at", "bucket") for w in where)]
        sql = (f"SELECT device_id, bucket, min, max, avg, count, last FROM {rollups} "
               f"WHERE {' AND '.join(conds)} ORDER BY bucket, device_id LIMIT {limit}")
    return run_query(sql, principal=by)
