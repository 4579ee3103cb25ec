"""A real HTTP server on 127.0.0.1 (ephemeral port) for the REST connector's tests.

Real sockets, real status codes and headers, no mocks of httpx: the connector's error mapping is
only worth something if it is tested against what a server actually does. Routes are plain
functions from a `Seen` request to a `Reply`; `city_api()` builds the server with every route the
tests use over one small company register (7 firms, ids 1..7, `updated_at` increasing).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "s3cr3t-bearer-token-42"
USER, PASSWORD = "clerk", "pa55-w0rd-xyz"
API_KEY = "key-9f8e7d6c5b"


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as-is instead of JSON
    content_type: str = "application/json"


Route = Callable[[Seen], Reply]


class RestServer:
    """`with RestServer() as srv: srv.route("/x", fn); srv.url` — threads stop on exit."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                seen = Seen(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()})
                server.seen.append(seen)
                route = server.routes.get(parts.path)
                reply = route(seen) if route else Reply(404, {"error": "no such path"})
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, fn: Route) -> None:
        self.routes[path] = fn

    def __enter__(self) -> RestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        server_release.set()  # hanging routes return
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# --- the city company register ----------------------------------------------------------------

COMPANIES: list[dict[str, Any]] = [
    {"id": i, "name": f"Firm {i}", "updated_at": f"2024-01-0{i}T10:00:00Z", "employees": i * 10,
     "active": i % 2 == 1, "score": i + 0.5, "address": {"street": f"{i} Xiangjiang Rd", "city": "Changsha"},
     "tags": ["a", str(i)]}
    for i in range(1, 8)
]


def _since(seen: Seen) -> list[dict[str, Any]]:
    """The server-side cursor filter (`updated_since`), as a cooperative API would apply it."""
    since = seen.query.get("updated_since")
    return [c for c in COMPANIES if since is None or c["updated_at"] > since]


def _page(seen: Seen) -> Reply:
    page, size = int(seen.query.get("page", 1)), int(seen.query.get("page_size", 3))
    rows = _since(seen)[(page - 1) * size: page * size]
    return Reply(body={"data": {"items": rows, "total": len(COMPANIES)}, "page": page})


def _offset(seen: Seen) -> Reply:
    offset, limit = int(seen.query.get("offset", 0)), int(seen.query.get("limit", 3))
    return Reply(body=COMPANIES[offset: offset + limit])


def _cursor(seen: Seen) -> Reply:
    start = int(seen.query.get("cursor", 0))
    nxt = start + 3 if start + 3 < len(COMPANIES) else None
    return Reply(body={"results": COMPANIES[start: start + 3], "meta": {"next_cursor": nxt and str(nxt)}})


def _link(seen: Seen) -> Reply:
    start = int(seen.query.get("from", 0))
    headers = {}
    if start + 3 < len(COMPANIES):
        headers["Link"] = f'</api/link?from={start + 3}>; rel="next", </api/link?from=0>; rel="first"'
    return Reply(body=COMPANIES[start: start + 3], headers=headers)


def _link_body(seen: Seen) -> Reply:
    start = int(seen.query.get("from", 0))
    nxt = f"/api/link-body?from={start + 3}" if start + 3 < len(COMPANIES) else None
    return Reply(body={"items": COMPANIES[start: start + 3], "links": {"next": nxt}})


def _guarded(check: Callable[[Seen], bool]) -> Route:
    """A route that answers 401 - echoing what it received, as careless servers do - unless `check`."""

    def route(seen: Seen) -> Reply:
        if check(seen):
            return Reply(body=COMPANIES[:2])
        echo = f"denied: authorization={seen.headers.get('authorization')} query={seen.query}"
        return Reply(401, {"error": echo})

    return route


def _basic_ok(seen: Seen) -> bool:
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return seen.headers.get("authorization") == f"Basic {expected}"


server_release = threading.Event()


def _hang(seen: Seen) -> Reply:
    server_release.wait(120)  # far past any client timeout under test; released when the server stops
    return Reply(body=[])


def _flaky() -> Route:
    calls = {"n": 0}

    def route(seen: Seen) -> Reply:
        calls["n"] += 1
        if calls["n"] < 3:
            return Reply(503, {"error": "busy"}, headers={"Retry-After": "0"})
        return Reply(body=COMPANIES[:1])

    return route


def _bad_second_page(seen: Seen) -> Reply:
    if seen.query.get("page", "1") == "1":
        return Reply(body=COMPANIES[:3])
    return Reply(raw=b"<html><body>Gateway maintenance</body></html>", content_type="text/html")


def _mixed(seen: Seen) -> Reply:
    return Reply(body={"items": [
        {"id": 1, "count": 5, "when": "2024-03-01T08:00:00"},
        {"id": 2, "count": "abc", "when": "2024-03-02T08:00:00"},
        {"id": 3, "count": 7, "when": "2024-03-03T08:00:00", "surprise": {"new": True}},
        {"id": 4, "when": None},
    ]})


def _grows(seen: Seen) -> Reply:
    """Page 1 has id/name; page 2 adds `district`, a field the API started sending later."""
    if seen.query.get("page", "1") == "1":
        return Reply(body=[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    return Reply(body=[{"id": 3, "name": "c", "district": {"code": "430102", "name": "Furong"}}])


def city_api() -> RestServer:
    """The server with every route the REST tests use."""
    srv = RestServer()
    srv.route("/api/page", _page)
    srv.route("/api/offset", _offset)
    srv.route("/api/cursor", _cursor)
    srv.route("/api/link", _link)
    srv.route("/api/link-body", _link_body)
    srv.route("/api/loop", lambda s: Reply(body={"results": COMPANIES[:1], "meta": {"next_cursor": "same"}}))
    srv.route("/api/ignores-page", lambda s: Reply(body=COMPANIES[:3]))
    srv.route("/api/single", lambda s: Reply(body={"status": "ok", "version": 3}))
    srv.route("/api/mixed", _mixed)
    srv.route("/api/grows", _grows)
    srv.route("/auth/bearer", _guarded(lambda s: s.headers.get("authorization") == f"Bearer {TOKEN}"))
    srv.route("/auth/basic", _guarded(_basic_ok))
    srv.route("/auth/key-header", _guarded(lambda s: s.headers.get("x-api-key") == API_KEY))
    srv.route("/auth/key-query", _guarded(lambda s: s.query.get("apikey") == API_KEY))
    srv.route("/err/500", lambda s: Reply(500, {"error": "database down"}))
    srv.route("/err/403", lambda s: Reply(403, {"error": "forbidden"}))
    srv.route("/err/html", lambda s: Reply(raw=b"<!DOCTYPE html><html><head><title>Login</title></head></html>",
                                           content_type="text/html; charset=utf-8"))
    srv.route("/err/429-long", lambda s: Reply(429, {"error": "slow down"}, headers={"Retry-After": "3600"}))
    srv.route("/hang", _hang)
    srv.route("/flaky", _flaky())
    srv.route("/api/bad-second-page", _bad_second_page)
    return srv


def serve() -> Iterator[RestServer]:
    """Generator for a pytest fixture: the city API, running, stopped afterwards."""
    server_release.clear()
    with city_api() as srv:
        yield srv
