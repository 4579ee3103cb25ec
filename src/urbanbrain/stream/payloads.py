"""Message payloads to readings: NGSI entities (three forms), plain JSON with a mapping, CSV lines.

A payload becomes zero or more `Reading`s, or a `Rejected` naming what is wrong (too large, not
JSON, no id, a device id with characters that do not belong in one, a time from the future or from
1970, a unit we do not know, a value the data model does not allow). Rejections go to the feed's
dead-letter table; they never stop the other readings of the same batch or other devices.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from urbanbrain.core.clock import as_utc
from urbanbrain.stream import schemas

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; the stdlib path stays correct without it
    _orjson = None  # type: ignore[assignment]

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._\-]{0,254}$")
TIME_KEYS = ("dateObserved", "observedAt", "dateObservedTo", "timestamp", "TimeInstant", "dateModified")

# UN/CEFACT unit codes a reading may carry, and how each converts to the attribute's stored unit.
UNIT_TO_CANONICAL: dict[str, tuple[str, Callable[[float], float]]] = {
    "GQ": ("GQ", lambda v: v),  # microgram per cubic metre
    "GP": ("GQ", lambda v: v * 1000.0),  # milligram per cubic metre
    "59": ("59", lambda v: v),  # ppm
    "61": ("61", lambda v: v),  # ppb
    "CEL": ("CEL", lambda v: v),
    "FAH": ("CEL", lambda v: (v - 32.0) * 5.0 / 9.0),
    "KEL": ("CEL", lambda v: v - 273.15),
    "MTR": ("MTR", lambda v: v),
    "CMT": ("MTR", lambda v: v / 100.0),
    "MMT": ("MTR", lambda v: v / 1000.0),
    "KMT": ("MTR", lambda v: v * 1000.0),
    "KMH": ("KMH", lambda v: v),
    "MTS": ("KMH", lambda v: v * 3.6),
    "P1": ("P1", lambda v: v),  # percent
    "C62": ("C62", lambda v: v),  # one (dimensionless)
    "A97": ("A97", lambda v: v),  # hectopascal
    "2N": ("2N", lambda v: v),  # decibel
    "DD": ("DD", lambda v: v),  # degree (angle)
    "MMT/H": ("MMT/H", lambda v: v),
    "E32": ("E32", lambda v: v),  # vehicles per hour
    "WTT": ("WTT", lambda v: v),
    "KWT": ("WTT", lambda v: v * 1000.0),
    "KWH": ("KWH", lambda v: v),
    "LTR": ("LTR", lambda v: v),
    "MTQ": ("LTR", lambda v: v * 1000.0),
    "VLT": ("VLT", lambda v: v),
    "SEC": ("SEC", lambda v: v),
    "MIN": ("SEC", lambda v: v * 60.0),
}


@dataclass(slots=True)
class Reading:
    device_id: str
    type: str
    observed_at: datetime
    attributes: dict[str, Any]
    lon: float | None = None
    lat: float | None = None
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class Rejected:
    reason: str
    device_id: str | None = None
    raw: str = ""
    count: int = 1  # readings this dead letter stands for (a flood is one row, not thousands)


@dataclass(frozen=True)
class PayloadSpec:
    """How a feed's payloads are read: `format` ngsi | json | csv, the model to validate against,
    and for json/csv the mapping (JSON paths for id, time, attributes; CSV columns; units)."""

    format: str = "ngsi"
    model: str | None = None
    mapping: dict[str, Any] = field(default_factory=dict)
    max_bytes: int = MAX_PAYLOAD_BYTES


def parse_time(value: Any) -> datetime:
    """ISO 8601 text (UTC when it names no zone; an interval `start/end` counts as its end) or epoch
    seconds / milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip().split("/")[-1].replace("Z", "+00:00")  # an ISO interval: its end
        return as_utc(datetime.fromisoformat(text))
    raise ValueError(f"{value!r} is not a time")


def json_path(doc: Any, path: str) -> Any:
    """A small JSONPath: `$.a.b[0].c`. Missing steps give None."""
    if not path.startswith("$"):
        return path  # a constant (e.g. the type)
    node = doc
    for step in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:]):
        key, index = step
        if key:
            node = node.get(key) if isinstance(node, dict) else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        if node is None:
            return None
    return node


class Parser:
    """One feed's payload reader; `now` is the controlled clock (core.clock.utcnow by default)."""

    def __init__(self, spec: PayloadSpec, now: Callable[[], datetime]) -> None:
        self.spec = spec
        self.now = now
        self._good_ids: set[str] = set()  # device ids already checked
        self._times: dict[str, datetime] = {}  # a batch's observation times, read and checked once

    def parse(self, raw: bytes) -> tuple[list[Reading], list[Rejected]]:
        return self.parse_many([raw])

    def parse_many(self, payloads: list[bytes]) -> tuple[list[Reading], list[Rejected]]:
        """The messages of one worker batch. Key-values NGSI entities (the common, fast case) are
        decoded with orjson and validated together, attribute by attribute (`schemas.validate_batch`);
        anything else (normalized forms, units, JSON mappings, CSV, a payload that does not decode)
        takes the per-reading path, whose reasons are the same."""
        readings: list[Reading] = []
        rejects: list[Rejected] = []
        fast: list[tuple[int, dict[str, Any]]] = []  # (index in readings, entity) to validate as a batch
        kv = self.spec.format == "ngsi" and _orjson is not None
        self._times = {}
        for raw in payloads:
            items = self._fast_items(raw) if kv else None
            if items is None:
                ok, bad = self._parse_one(raw)
                readings.extend(ok)
                rejects.extend(bad)
                continue
            # no entity of a payload without `"value"` / `"object"` anywhere can be in a normalized form
            maybe_normalized = b'"value"' in raw or b'"object"' in raw
            for item in items:
                try:
                    if type(item) is dict and not (maybe_normalized and any(
                            type(v) is dict and ("value" in v or "object" in v) for v in item.values())):
                        reading, entity = self._keyvalues(item)
                        if self.spec.model:
                            fast.append((len(readings), entity))
                        readings.append(reading)
                    else:
                        readings.append(self._one(item))
                except _Reject as rej:
                    rejects.append(Rejected(rej.reason, rej.device_id, _dump(item)))
        if fast and self.spec.model:
            problems = schemas.validate_batch(self.spec.model, [e for _, e in fast])
            bad_at = set()
            for (i, entity), problem in zip(fast, problems, strict=True):
                if problem:
                    bad_at.add(i)
                    rejects.append(Rejected(problem, readings[i].device_id, _dump(entity)))
            if bad_at:
                readings = [r for i, r in enumerate(readings) if i not in bad_at]
        return readings, rejects

    def _fast_items(self, raw: bytes) -> list[Any] | None:
        """The items of a payload orjson decodes; None sends it down the per-reading path."""
        if len(raw) > self.spec.max_bytes or _orjson is None:
            return None
        try:
            doc = _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("data"), list):
            return list(doc["data"])
        return doc if isinstance(doc, list) else [doc]

    def _keyvalues(self, item: dict[str, Any]) -> tuple[Reading, dict[str, Any]]:
        """A key-values entity without the schema check (done for the batch by the caller)."""
        entity = {k: v for k, v in item.items() if k != "@context"} if "@context" in item else item
        device = self._device_id(entity.get("id"))
        model = self.spec.model
        etype = str(entity.get("type") or model or "")
        if model and etype != model:
            raise _Reject(f"entity type {etype!r} is not the feed's model {model!r}", device)
        # a fresh dict, not a copy with keys deleted: a dict with holes loses CPython's fast paths in the
        # `update`s and item-set differences of the live state (measured ~10 us/reading in the worker)
        attrs = {k: v for k, v in entity.items() if k not in _NOT_ATTRIBUTES}
        stamp = entity.get("dateObserved") or next((entity[k] for k in TIME_KEYS if entity.get(k)), None)
        if stamp is None and model and (problem := schemas.validate(model, entity)):
            raise _Reject(problem, device)  # the schema's reason first, as on the per-reading path
        lon, lat = _point(entity.get("location"))
        at = self._times.get(stamp) if type(stamp) is str else None
        if at is None:
            at = self._time(stamp, device)
            if type(stamp) is str:
                self._times[stamp] = at
        return Reading(device, etype, at, attrs, lon, lat, {}), entity

    def _parse_one(self, raw: bytes) -> tuple[list[Reading], list[Rejected]]:
        if len(raw) > self.spec.max_bytes:
            return [], [Rejected(f"payload of {len(raw):,} bytes is over the feed's limit of "
                                 f"{self.spec.max_bytes:,} bytes", raw=_cut(raw))]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [], [Rejected(f"payload is not UTF-8 text: {exc}", raw=_cut(raw))]
        if self.spec.format == "csv":
            items: list[Any] = list(self._csv_rows(text))
        else:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                return [], [Rejected(f"malformed JSON: {exc}", raw=text[:65536])]
            if isinstance(doc, dict) and isinstance(doc.get("data"), list):
                items = doc["data"]  # an NGSI-LD notification
            else:
                items = doc if isinstance(doc, list) else [doc]
        readings: list[Reading] = []
        rejects: list[Rejected] = []
        for item in items:
            try:
                readings.append(self._one(item))
            except _Reject as rej:
                rejects.append(Rejected(rej.reason, rej.device_id, _dump(item)))
        return readings, rejects

    def _csv_rows(self, text: str) -> Any:
        columns = list(self.spec.mapping.get("columns") or [])
        for row in csv.reader(io.StringIO(text)):
            if not row or (columns and row == columns):
                continue
            yield dict(zip(columns, row, strict=False)) if columns else {"_": row}

    def _one(self, item: Any) -> Reading:
        if not isinstance(item, dict):
            raise _Reject(f"expected a JSON object per reading, got {type(item).__name__}")
        if self.spec.format == "ngsi":
            return self._ngsi(item)
        return self._mapped(item)

    def _ngsi(self, item: dict[str, Any]) -> Reading:
        flat = schemas.flatten(item)
        entity = flat.entity
        device = self._device_id(entity.get("id"))
        model = self.spec.model
        etype = str(entity.get("type") or model or "")
        if model and etype != model:
            raise _Reject(f"entity type {etype!r} is not the feed's model {model!r}", device)
        attrs = {k: v for k, v in entity.items() if k not in ("id", "type", "location", *TIME_KEYS)}
        attrs = self._units(attrs, flat.units, device)
        if model:
            problem = schemas.validate(model, {**entity, **attrs})
            if problem:
                raise _Reject(problem, device)
        stamp = next((entity[k] for k in TIME_KEYS if entity.get(k)), None) or (
            max(flat.observed.values()) if flat.observed else None)
        lon, lat = _point(entity.get("location"))
        return Reading(device, etype, self._time(stamp, device), attrs, lon, lat, flat.units)

    def _mapped(self, item: dict[str, Any]) -> Reading:
        m = self.spec.mapping
        device = self._device_id(json_path(item, m.get("id", "$.id")) if self.spec.format == "json"
                                 else item.get(m.get("id", "id")))
        time_key = m.get("time", "$.time" if self.spec.format == "json" else "time")
        stamp = json_path(item, time_key) if self.spec.format == "json" else item.get(time_key)
        attr_map: dict[str, str] = dict(m.get("attributes") or {})
        if not attr_map and self.spec.format == "csv":
            skip = {m.get("id", "id"), time_key, m.get("lon"), m.get("lat")}
            attr_map = {c: c for c in m.get("columns", []) if c not in skip}
        attrs: dict[str, Any] = {}
        for name, path in attr_map.items():
            value = json_path(item, path) if self.spec.format == "json" else item.get(path)
            if value is None or value == "":
                continue
            attrs[name] = _number(value)
        if not attrs:
            raise _Reject("no attribute values found with the feed's mapping", device)
        attrs = self._units(attrs, dict(m.get("units") or {}), device)
        lon = lat = None
        if m.get("lon") and m.get("lat"):
            get = (lambda p: json_path(item, p)) if self.spec.format == "json" else item.get
            lon, lat = _float(get(m["lon"])), _float(get(m["lat"]))
        etype = str(m.get("type") or self.spec.model or "")
        if self.spec.model:
            problem = schemas.validate(self.spec.model, {"id": device, "type": self.spec.model, **attrs})
            if problem:
                raise _Reject(problem, device)
        return Reading(device, etype, self._time(stamp, device), attrs, lon, lat, dict(m.get("units") or {}))

    def _device_id(self, value: Any) -> str:
        if type(value) is str and value in self._good_ids:
            return value
        if value is None or value == "":
            raise _Reject("the reading has no device id")
        text = str(value)
        if not DEVICE_ID.match(text) or ".." in text:
            raise _Reject(f"device id {text[:80]!r} has characters a device id may not have "
                          "(allowed: letters, digits, ':', '.', '_', '-'; at most 255)")
        if len(self._good_ids) > 200_000:
            self._good_ids.clear()
        self._good_ids.add(text)
        return text

    def _time(self, stamp: Any, device: str) -> datetime:
        if stamp is None:
            raise _Reject("the reading has no observation time (dateObserved, observedAt or the mapped time)",
                          device)
        try:
            at = parse_time(stamp)
        except (ValueError, OverflowError, OSError) as exc:
            raise _Reject(f"observation time {stamp!r} cannot be read: {exc}", device) from None
        now = self.now()
        if at > now + MAX_FUTURE:
            raise _Reject(f"observation time {at.isoformat()} is in the future (now {now.isoformat()}); "
                          "check the device's clock", device)
        if at < EARLIEST:
            raise _Reject(f"observation time {at.isoformat()} is before 2000; the device's clock is "
                          "probably unset", device)
        return at

    @staticmethod
    def _units(attrs: dict[str, Any], units: dict[str, str], device: str) -> dict[str, Any]:
        if not units:
            return attrs
        out = dict(attrs)
        for name, code in units.items():
            if name not in out:
                continue
            conv = UNIT_TO_CANONICAL.get(str(code))
            if conv is None:
                raise _Reject(f"unit {code!r} of {name!r} is not a UN/CEFACT code this feed knows "
                              f"(known: {', '.join(sorted(UNIT_TO_CANONICAL))})", device)
            if isinstance(out[name], int | float) and not isinstance(out[name], bool):
                out[name] = conv[1](float(out[name]))
        return out


_NOT_ATTRIBUTES = frozenset(("id", "type", "location", "@context", *TIME_KEYS))


def _dump(item: Any) -> str:
    return json.dumps(item, ensure_ascii=False, default=str)[:65536]


class _Reject(Exception):
    def __init__(self, reason: str, device_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.device_id = reason, device_id


def _cut(raw: bytes) -> str:
    return raw[:65536].decode("utf-8", errors="replace")


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _point(location: Any) -> tuple[float | None, float | None]:
    """GeoJSON Point -> (lon, lat); other geometries give their first coordinate pair."""
    if not isinstance(location, dict):
        return None, None
    coords = location.get("coordinates")
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        coords = coords[0]
    if isinstance(coords, list) and len(coords) >= 2:
        return _float(coords[0]), _float(coords[1])
    return None, None
