"""Pagination for the REST connector: which request comes next, and when to stop.

Kept apart from `rest.py` so each paging style is a few readable lines and can be tested on its own.
Every style shares two safety nets, because a misbehaving API must not make a sync run forever:
a hard cap on pages (`max_pages`, default 100 000) and loop detection (the same next cursor or next
URL twice, or the very same page body twice in a row) -> `SourceFormatError`.

Styles (the endpoint's `pagination` option):

- `{"type": "none"}`: one request.
- `{"type": "page", "page_param": "page", "size_param": "page_size", "size": 100, "start": 1}`:
  stops on an empty or short page.
- `{"type": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 100, "start": 0}`:
  stops on an empty or short page.
- `{"type": "cursor", "cursor_param": "cursor", "next_path": "meta.next_cursor"}`: stops when the
  next cursor is null, empty or missing.
- `{"type": "link"}`: follows the RFC 8288 (ex-5988) `Link: <...>; rel="next"` header; with
  `"next_path": "links.next"` it follows a next URL found in the body instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from urbanbrain.core.errors import ConfigurationError, SourceFormatError

DEFAULT_MAX_PAGES = 100_000
STYLES = ("none", "page", "offset", "cursor", "link")


@dataclass(frozen=True)
class PageRequest:
    """One GET to make: absolute URL, query parameters, and its 1-based page number (for errors)."""

    url: str
    params: dict[str, Any]
    number: int


@dataclass
class Page:
    """One fetched page: the request that produced it, its records and its decoded body."""

    request: PageRequest
    records: list[Any]
    body: Any


@dataclass(frozen=True)
class PagingSpec:
    """A validated `pagination` option."""

    type: str = "none"
    page_param: str = "page"
    size_param: str | None = "page_size"
    size: int = 100
    start: int = 1
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    next_path: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def parse(cls, raw: dict[str, Any] | None, max_pages: int | None = None) -> PagingSpec:
        """Validate the option early so a typo fails `test()`, not the third page of a sync."""
        raw = dict(raw or {})
        kind = str(raw.pop("type", "none"))
        if kind not in STYLES:
            raise ConfigurationError(f"unknown pagination type {kind!r}", hint=f"use one of {', '.join(STYLES)}")
        size = int(raw.pop("size", raw.pop("limit", 100)))
        cap = int(raw.pop("max_pages", max_pages or DEFAULT_MAX_PAGES))
        if size < 1 or cap < 1:
            raise ConfigurationError("pagination size/limit and max_pages must be at least 1")
        if kind == "cursor" and not raw.get("next_path"):
            raise ConfigurationError("cursor pagination needs 'next_path' (where the next cursor is in the body)",
                                     hint='e.g. {"type": "cursor", "next_path": "meta.next_cursor"}')
        start_default = 0 if kind == "offset" else 1
        spec = cls(
            type=kind,
            page_param=str(raw.pop("page_param", "page")),
            size_param=raw.pop("size_param", "page_size"),
            size=size,
            start=int(raw.pop("start", start_default)),
            offset_param=str(raw.pop("offset_param", "offset")),
            limit_param=str(raw.pop("limit_param", "limit")),
            cursor_param=str(raw.pop("cursor_param", "cursor")),
            next_path=raw.pop("next_path", None),
            max_pages=cap,
        )
        if raw:
            raise ConfigurationError(f"unknown pagination option(s) {', '.join(sorted(raw))}",
                                     hint="see urbanbrain.connect.rest_paging for the options of each style")
        return spec

    def first_params(self) -> dict[str, Any]:
        """Query parameters of the first page (also what `test()` sends)."""
        if self.type == "page":
            params: dict[str, Any] = {self.page_param: self.start}
            if self.size_param:
                params[self.size_param] = self.size
            return params
        if self.type == "offset":
            return {self.offset_param: self.start, self.limit_param: self.size}
        return {}


def dig(body: Any, path: str) -> Any:
    """Follow a dotted path (`data.items`, `results.0.rows`) into decoded JSON; None when absent."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


def records_of(body: Any, path: str | None, where: str, paged: bool = False) -> list[Any]:
    """The record list of a page.

    With `records_path` the list lives there (null there means an empty page). Without it: the
    body itself if it is a list, else its first list-valued key, else - only for an unpaginated
    endpoint, such as `/status` - the body is one record. A paginated body without a list is an
    error rather than one odd record, because it almost always means records_path is missing.
    """
    if path:
        found = dig(body, path)
        if found is None:
            if isinstance(body, dict) and path.split(".")[0] not in body:
                keys = ", ".join(list(body)[:10])
                raise SourceFormatError(f"{where}: records_path {path!r} not found; top-level keys: {keys}",
                                        hint="fix the endpoint's records_path")
            return []
        if not isinstance(found, list):
            raise SourceFormatError(f"{where}: records_path {path!r} holds {type(found).__name__}, not a list",
                                    hint="point records_path at the list of records")
        return found
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
        if not paged:
            return [body]
        keys = ", ".join(list(body)[:10])
        raise SourceFormatError(f"{where}: no list of records at the top level (keys: {keys})",
                                hint='set the endpoint\'s records_path, e.g. "data.items"')
    raise SourceFormatError(f"{where}: the JSON body is a {type(body).__name__}, not records",
                            hint="point records_path at the list of records")


Fetch = Callable[[PageRequest], tuple[Any, httpx.Response]]


def iter_pages(spec: PagingSpec, url: str, params: dict[str, Any], fetch: Fetch,
               records_path: str | None, label: str) -> Generator[Page, None, None]:
    """Fetch pages one after another until the style says stop.

    `fetch` does the HTTP and error mapping and returns (decoded JSON, response); this function
    only decides what comes next. `label` names the endpoint in error messages.
    """
    request = PageRequest(url, {**params, **spec.first_params()}, 1)
    seen: set[str] = set()
    last_digest: str | None = None
    origin = _origin(url)
    while True:
        if request.number > spec.max_pages:
            raise SourceFormatError(
                f"endpoint {label!r} returned more than {spec.max_pages} pages",
                hint="raise pagination.max_pages if the API really has that many, else check the pagination option",
            )
        body, response = fetch(request)
        where = f"endpoint {label!r} page {request.number}"
        records = records_of(body, records_path, where, spec.type != "none")
        yield Page(request, records, body)
        nxt: PageRequest | None = None
        if spec.type in ("page", "offset"):
            if len(records) < spec.size:
                return
            digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
            if digest == last_digest:
                raise SourceFormatError(f"{where} is identical to the page before; the API ignores "
                                        f"{spec.page_param if spec.type == 'page' else spec.offset_param!r}",
                                        hint="check the pagination parameter names for this endpoint")
            last_digest = digest
            step = {spec.page_param: request.params[spec.page_param] + 1} if spec.type == "page" else \
                {spec.offset_param: request.params[spec.offset_param] + len(records)}
            nxt = PageRequest(request.url, {**request.params, **step}, request.number + 1)
        elif spec.type == "cursor":
            token = dig(body, spec.next_path or "")
            if token is None or token == "":
                return
            key = str(token)
            if key in seen:
                raise SourceFormatError(f"{where} repeats next cursor {key[:40]!r}; the API would page forever",
                                        hint="check pagination.next_path and cursor_param")
            seen.add(key)
            nxt = PageRequest(request.url, {**request.params, spec.cursor_param: token}, request.number + 1)
        elif spec.type == "link":
            target = _next_link(body, response, spec.next_path)
            if not target:
                return
            absolute = urljoin(str(response.url), target)
            if _origin(absolute) != origin:
                raise SourceFormatError(f"{where}: next link leads to another host ({_origin(absolute)})",
                                        hint="credentials are only sent to the configured host")
            if absolute in seen or absolute == str(response.url):
                raise SourceFormatError(f"{where} repeats next link; the API would page forever")
            seen.add(absolute)
            # the next URL carries its own query string; only auth parameters are added by the client
            nxt = PageRequest(absolute, {}, request.number + 1)
        if nxt is None:
            return
        request = nxt


def _next_link(body: Any, response: httpx.Response, next_path: str | None) -> str | None:
    if next_path:
        found = dig(body, next_path)
        return str(found) if found else None
    link = response.links.get("next")
    return link.get("url") if link else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()
