"""The department API simulator: the REST systems of the demo city, served on 127.0.0.1.

Some departments expose nothing but an HTTP API, so the demo needs real HTTP: bearer tokens, page /
offset / cursor pagination, `updated_since`-style incremental parameters. Static endpoints serve
what the builder stored under `demo/api/<system>/<object>.parquet`; live sensor endpoints compute
readings up to the current time (see `sensors.py`), so every minute brings new rows for a worker
that syncs "every 1m". Standard library only (ThreadingHTTPServer): nothing to install, one thread.

>>> feeds = Simulator(config).start()      # doctest: +SKIP
>>> feeds.url, feeds.stop()                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from urbanbrain.demo import sensors
from urbanbrain.demo.departments import SystemSpec

TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
PAGE = {"page": 500, "offset": 500, "cursor": 500, "live": 2000}


@dataclass
class SimulatorConfig:
    """What the simulator serves: the REST system specs, the stored data, the sensor seed and clock."""

    specs: list[SystemSpec]
    api_dir: Path
    seed: int
    start: np.datetime64
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _paging(spec: SystemSpec, opts: dict[str, Any]) -> str:
    return "live" if spec.kind == "live" and "window_hours" in opts else str(opts.get("paging", "page"))


def rest_options(spec: SystemSpec, base_url: str, token: str) -> dict[str, Any]:
    """Connector options for a simulated system: one endpoint per object, as its department documents it."""
    endpoints = []
    for obj in spec.objects:
        opts = dict(obj.options)
        style = _paging(spec, opts)
        ep: dict[str, Any] = {"name": obj.name, "path": f"/api/{spec.name}/{obj.name}", "primary_key": [obj.key]}
        if style in ("page", "live"):
            ep.update(records_path="data.items", total_path="data.total",
                      pagination={"type": "page", "page_param": "page", "size_param": "page_size", "size": PAGE[style]})
        elif style == "offset":
            ep.update(records_path="items", pagination={"type": "offset", "offset_param": "offset",
                                                        "limit_param": "limit", "limit": PAGE[style]})
        else:
            ep.update(records_path="data", pagination={"type": "cursor", "cursor_param": "cursor",
                                                       "next_path": "next_cursor"})
        if obj.cursor:
            ep.update(cursor_column=obj.cursor, cursor_param="since" if style == "live" else "updated_since")
        endpoints.append(ep)
    return {"url": base_url, "endpoints": endpoints, "auth": {"type": "bearer", "token": token}}


def _records(table: pa.Table) -> list[dict[str, Any]]:
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            col = pc.strftime(col, TS_FORMAT if pa.types.is_timestamp(col.type) else "%Y-%m-%d")
        cols[name] = col
    return pa.table(cols).to_pylist() if cols else []


class Simulator:
    """A running API simulator (`start()` → self with `.url`; `stop()` shuts the thread down)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.systems = {s.name: s for s in config.specs}
        self.inventory = sensors.inventory(config.seed)
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.config.host}:{self._server.server_address[1]}"

    def start(self) -> Simulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = sim.handle(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer((self.config.host, self.config.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="urbanbrain-demo-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- requests ------------------------------------------------------------------------------

    def handle(self, raw_path: str, authorization: str) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        bits = parts.path.strip("/").split("/")
        if authorization != f"Bearer {self.config.token}":
            return 401, {"code": 401, "message": "未授权：缺少或错误的访问令牌"}
        if len(bits) != 3 or bits[0] != "api" or bits[1] not in self.systems:
            return 404, {"code": 404, "message": "接口不存在"}
        spec = self.systems[bits[1]]
        obj = next((o for o in spec.objects if o.name == bits[2]), None)
        if obj is None:
            return 404, {"code": 404, "message": "接口不存在"}
        opts = dict(obj.options)
        style = _paging(spec, opts)
        since = query.get("since") or query.get("updated_since")
        if style == "live":
            rows = self._live(obj.producer, int(str(opts.get("window_hours", 0))), since)
        else:
            rows = self._stored(spec.name, obj.name)
            if since and obj.cursor:
                rows = [r for r in rows if str(r.get(obj.cursor) or "") >= since]
        try:
            if style in ("page", "live"):
                page, size = int(query.get("page", 1)), int(query.get("page_size", PAGE[style]))
                items = rows[(page - 1) * size: page * size]
                return 200, {"code": 0, "message": "ok", "data": {"items": items, "total": len(rows)}}
            if style == "offset":
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", PAGE[style]))
                return 200, {"items": rows[offset: offset + limit], "total": len(rows)}
            at = int(query.get("cursor") or 0)
            nxt = at + PAGE["cursor"]
            return 200, {"data": rows[at:nxt], "next_cursor": str(nxt) if nxt < len(rows) else None}
        except ValueError:
            return 400, {"code": 400, "message": "参数错误"}

    def _stored(self, system: str, obj: str) -> list[dict[str, Any]]:
        key = f"{system}/{obj}"
        with self.lock:
            if key not in self.config.cache:
                path = self.config.api_dir / system / f"{obj}.parquet"
                self.config.cache[key] = _records(pq.read_table(path)) if path.exists() else []
            return self.config.cache[key]

    def _live(self, feed: str, window_hours: int, since: str | None) -> list[dict[str, Any]]:
        now = np.datetime64("now", "s")  # numpy's "now" is UTC, like the sensor timestamps
        lo = self.config.start
        if window_hours:
            lo = max(lo, now - np.timedelta64(window_hours, "h"))
        if since:
            with contextlib.suppress(ValueError):  # a malformed `since` means "from the window start"
                lo = max(lo, np.datetime64(since.replace(" ", "T")).astype("datetime64[s]"))
        table = sensors.FEEDS[feed](self.inventory, self.config.seed, lo, now + np.timedelta64(1, "s"))
        order = pc.sort_indices(table, sort_keys=[("ts", "ascending"), (table.column_names[0], "ascending")])
        return _records(table.take(order))
