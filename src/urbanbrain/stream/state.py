"""Live state: the latest value of every attribute of every device of a feed (the digital twin).

Held in memory for speed and saved with history commits (new devices at once, changes at most every
few seconds), to the metadata database by default or to Redis when `URBANBRAIN_REDIS_URL` is set, so a
restarted stream starts from the last state. Each save knows the journal position it covers; the
pipeline records it in the journal, which replays the readings after it into state after a crash.
A device is registered on its first reading, owned by the feed's department, with its location
when the reading has one. A late reading (older than what is known) updates history, not the state.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import insert, select, update

from urbanbrain.core.clock import as_utc
from urbanbrain.core.settings import get_settings
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import DeviceState
from urbanbrain.stream.payloads import Reading


@dataclass
class Device:
    """One device's state. Values and their observation times are kept in two flat dicts (a batch
    updates them with two C-level `dict.update`s); `attributes` is the public
    `{name: {"value", "observedAt"}}` form, built when it is read or saved."""

    device_id: str
    type: str
    department: str
    values: dict[str, Any] = field(default_factory=dict)
    times: dict[str, str] = field(default_factory=dict)  # name -> observedAt (ISO)
    observed_at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        return {k: {"value": v, "observedAt": self.times.get(k)} for k, v in self.values.items()}

    @staticmethod
    def split(attributes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        values = {k: (a or {}).get("value") for k, a in attributes.items()}
        return values, {k: str((a or {}).get("observedAt")) for k, a in attributes.items()}

    def as_dict(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "type": self.type, "department": self.department,
                "observed_at": self.observed_at.isoformat() if self.observed_at else None,
                "lon": self.lon, "lat": self.lat, "attributes": self.attributes,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None}


_MISSING = object()


class LiveState:
    def __init__(self, feed_id: str, department: str) -> None:
        self.feed_id, self.department = feed_id, department
        self.devices: dict[str, Device] = {}
        self._dirty: set[str] = set()
        self._stored: set[str] = set()
        self._lock = threading.Lock()
        self._position: str | None = None  # the journal position of the last batch applied
        self.saved_position: str | None = None  # ... and of the last one the stored state covers

    def apply(self, reading: Reading, received: datetime) -> dict[str, Any] | None:
        """Update from one reading; returns the changed attributes (None for a late reading)."""
        with self._lock:
            dev = self.devices.get(reading.device_id)
            if dev is None:
                dev = Device(reading.device_id, reading.type, self.department, first_seen=received)
                self.devices[reading.device_id] = dev
            dev.last_seen = received
            self._dirty.add(reading.device_id)
            if dev.observed_at is not None and reading.observed_at < dev.observed_at:
                return None
            at = reading.observed_at.isoformat()
            changed = _changed(dev.values, reading.attributes)
            dev.values.update(reading.attributes)
            dev.times.update(dict.fromkeys(reading.attributes, at))
            dev.observed_at = reading.observed_at
            if reading.type:
                dev.type = reading.type
            if reading.lon is not None and reading.lat is not None:
                dev.lon, dev.lat = reading.lon, reading.lat
            return changed

    def apply_many(self, readings: list[Reading], received: datetime,
                   position: str | None = None) -> list[dict[str, Any]]:
        """Update from a batch, once per device: its readings merged in time order (each attribute
        keeps the time of the reading that carried it). Returns the state changes to publish
        (device, its latest time, the attributes whose value changed); late readings change nothing."""
        groups: dict[str, list[Reading]] = {}
        for r in readings:
            groups.setdefault(r.device_id, []).append(r)
        changes: list[dict[str, Any]] = []
        iso: dict[datetime, str] = {}
        with self._lock:
            if position is not None:
                self._position = position
            for device_id, rs in groups.items():
                if len(rs) > 1 and any(a.observed_at > b.observed_at for a, b in pairwise(rs)):
                    rs.sort(key=lambda r: r.observed_at)
                dev = self.devices.get(device_id)
                if dev is None:
                    dev = Device(device_id, rs[0].type, self.department, first_seen=received)
                    self.devices[device_id] = dev
                dev.last_seen = received
                self._dirty.add(device_id)
                values: dict[str, Any] = {}
                last: Reading | None = None
                where: tuple[float, float] | None = None
                for r in rs:
                    if dev.observed_at is not None and r.observed_at < dev.observed_at:
                        continue
                    values.update(r.attributes)
                    dev.times.update(dict.fromkeys(r.attributes, iso.get(r.observed_at) or iso.setdefault(
                        r.observed_at, r.observed_at.isoformat())))
                    last = r
                    if r.lon is not None and r.lat is not None:
                        where = (r.lon, r.lat)
                if last is None:
                    continue
                changed = _changed(dev.values, values)
                dev.values.update(values)
                dev.observed_at = last.observed_at
                if last.type:
                    dev.type = last.type
                if where is not None:
                    dev.lon, dev.lat = where
                if changed:
                    changes.append({"device_id": device_id, "type": dev.type,
                                    "observed_at": last.observed_at.isoformat(), "attributes": changed,
                                    "lon": last.lon, "lat": last.lat})
        return changes

    def snapshot(self) -> list[Device]:
        with self._lock:
            return list(self.devices.values())

    # --- persistence ---------------------------------------------------------------------------

    def load(self) -> None:
        url = get_settings().redis_url
        if url:
            self._load_redis(url)
            return
        with session_scope() as s:
            for row in s.scalars(select(DeviceState).where(DeviceState.feed_id == self.feed_id)):
                self.devices[row.device_id] = Device(
                    row.device_id, row.type, row.department, *Device.split(dict(row.attributes or {})),
                    as_utc(row.observed_at) if row.observed_at else None, row.lon, row.lat,
                    as_utc(row.first_seen), as_utc(row.last_seen))
                self._stored.add(row.device_id)

    def has_unsaved_devices(self) -> bool:
        """True when a device seen since the last save was never stored (a new device is registered with
        the next commit, not up to `STATE_SAVE_SECONDS` later, so pages and the API list it at once)."""
        with self._lock:
            return any(d not in self._stored for d in self._dirty)

    def save(self) -> int:
        """Write the devices changed since the last save; returns how many. On success
        `saved_position` is the journal position the stored state now covers."""
        with self._lock:  # copies: the worker keeps updating the devices while this thread saves
            dirty = [replace(self.devices[d], values=dict(self.devices[d].values), times=dict(self.devices[d].times))
                     for d in self._dirty]
            self._dirty.clear()
            position = self._position
        if not dirty:
            self.saved_position = position
            return 0
        try:
            self._write(dirty)
        except BaseException:  # not stored: dirty again, and the saved position stays where it was
            with self._lock:
                self._dirty.update(d.device_id for d in dirty)
            raise
        self._stored.update(d.device_id for d in dirty)
        self.saved_position = position
        return len(dirty)

    def _write(self, dirty: list[Device]) -> None:
        url = get_settings().redis_url
        if url:
            self._save_redis(url, dirty)
            return
        new = [d for d in dirty if d.device_id not in self._stored]
        old = [d for d in dirty if d.device_id in self._stored]
        with session_scope() as s:
            if new:  # one executemany, not ORM objects (5,000 new devices took seconds through the unit of work)
                s.execute(insert(DeviceState), [
                    {"feed_id": self.feed_id, "device_id": d.device_id, "type": d.type, "department": d.department,
                     "lon": d.lon, "lat": d.lat, "attributes": d.attributes, "observed_at": d.observed_at,
                     "first_seen": d.first_seen or d.last_seen, "last_seen": d.last_seen} for d in new])
            if old:
                s.connection().execute(
                    update(DeviceState).where(DeviceState.feed_id == self.feed_id,
                                              DeviceState.device_id == _bind("b_device")),
                    [{"b_device": d.device_id, "type": d.type, "lon": d.lon, "lat": d.lat,
                      "attributes": d.attributes, "observed_at": d.observed_at, "last_seen": d.last_seen}
                     for d in old])

    def _key(self) -> str:
        return f"{get_settings().redis_prefix}:stream:state:{self.feed_id}"

    def _load_redis(self, url: str) -> None:
        import redis

        client = redis.Redis.from_url(url)
        for device_id, raw in client.hgetall(self._key()).items():
            d = json.loads(raw)
            name = device_id.decode() if isinstance(device_id, bytes) else device_id
            self._stored.add(name)
            self.devices[name] = Device(
                d["device_id"], d["type"], d["department"], *Device.split(d["attributes"]),
                datetime.fromisoformat(d["observed_at"]) if d.get("observed_at") else None, d.get("lon"),
                d.get("lat"), None, datetime.fromisoformat(d["last_seen"]) if d.get("last_seen") else None)

    def _save_redis(self, url: str, devices: list[Device]) -> None:
        import redis

        client = redis.Redis.from_url(url)
        client.hset(self._key(), mapping={d.device_id: json.dumps(d.as_dict(), default=str) for d in devices})


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The items of `new` whose value differs from `old` (a set difference of item views when the
    values are hashable, as sensor values are; else one by one)."""
    try:
        return dict(new.items() - old.items())
    except TypeError:
        return {k: v for k, v in new.items() if old.get(k, _MISSING) != v}


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)
