"""REST/JSON APIs: each configured endpoint is one object, read page by page into Arrow batches.

Many department systems expose nothing but an HTTP API. This connector reads them with `httpx`
(synchronously; one client per source) and maps every failure to the typed errors the scheduler
understands: 401/403 -> `AuthenticationError`, refused/DNS/timeout -> `SourceUnreachableError`,
5xx -> `SourceServerError` (both transient), 404 -> `ObjectNotFoundError`, a body that is not
JSON -> `SourceFormatError`. 429/503 with a short `Retry-After` are retried here (3 times) because
the server told us exactly when to come back; all other retrying is the scheduler's job.

Options::

    {"url": "https://api.example.gov.cn",            # base URL (required)
     "timeout": 30,                                  # seconds; default settings.source_timeout_seconds
     "headers": {"Accept-Language": "zh-CN"},
     "auth": {"type": "bearer", "token": "..."}       # or basic (username, password),
                                                     # or api_key (name, value|key_value, in: header|query)
     "verify": true,                                 # TLS verification (or a CA bundle path)
     "max_pages": 100000, "retry_max_wait": 5,
     "endpoints": [{"name": "companies", "path": "/api/companies",
                    "records_path": "data.items",     # default: body if a list, else first list-valued key
                    "params": {"status": "active"},
                    "primary_key": ["id"],
                    "cursor_column": "updated_at",    # field the sync cursor runs on (for discover)
                    "cursor_param": "updated_since",  # query param that receives the cursor value
                    "cursor_param_after": false,      # true: the API filters strictly after it (sync refuses)
                    "columns": {"id": "int64"},       # optional pinned types (see rest_schema)
                    "total_path": "meta.total",       # optional row estimate in the first page
                    "pagination": {"type": "page", ...}}]}   # see rest_paging

Every batch carries exactly one schema for the whole read (columns inferred from a sample, plus a
JSON-text `_extra` column holding any field that was not in it, so new API fields are kept, never
dropped); values that do not fit their column become `Reject`s. Details in `rest_schema`.

Rows come out in the API's order, not sorted by the cursor: a sync must take the maximum cursor
value over all rows read, not the last one. The cursor is always also applied client-side, so an
API that ignores `cursor_param` is still read correctly (only less efficiently). The API must return
rows *at* the value it is sent too (`>=`, as `since`-style filters do): sync remembers the rows at the
last value and skips them; an endpoint declared `cursor_param_after` cannot give that guarantee, so a
cursor on it is refused. A JSON null and an empty string are both missing (null), as in files.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
import pyarrow as pa

from urbanbrain.connect.base import Batch, ColumnInfo, ReadRequest, Reject, SourceObject
from urbanbrain.connect.rest_paging import Page, PageRequest, PagingSpec, dig, iter_pages
from urbanbrain.connect.rest_schema import ConversionError, RowConverter, as_record, infer_columns
from urbanbrain.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ObjectNotFoundError,
    SourceError,
    SourceFormatError,
    SourceServerError,
    SourceUnreachableError,
    ValidationError,
)
from urbanbrain.core.secrets import redact_text, redact_url, secret_values
from urbanbrain.core.settings import get_settings

log = logging.getLogger(__name__)

RETRIES = 3
CURSOR_NAMES = ("updated_at", "updated", "modified", "modified_at", "last_modified", "changed_at",
                "update_time", "updatetime", "gmt_modified", "timestamp", "id")


@dataclass(frozen=True)
class Endpoint:
    """One validated entry of the `endpoints` option."""

    name: str
    path: str
    paging: PagingSpec
    records_path: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    cursor_param: str | None = None
    cursor_column: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    total_path: str | None = None
    cursor_param_after: bool = False  # the API returns rows strictly after `cursor_param` (not at it)


def _guard_request(request: httpx.Request) -> None:
    """Every request the source makes — redirects and next-page links included, not only the
    registered base URL — passes the source guards, so a public API cannot bounce the platform onto
    an internal address (connect/guards.py)."""
    from urbanbrain.connect.guards import check_host

    check_host(request.url.host, kind="rest")


class RestSource:
    """A JSON-over-HTTP department system; objects are its configured endpoints."""

    kind: ClassVar[str] = "rest"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.base_url = str(options.get("url") or "").rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError("a REST source needs 'url' (http:// or https://)",
                                     hint='e.g. {"url": "https://api.example.gov.cn"}')
        self.timeout = float(options.get("timeout") or get_settings().source_timeout_seconds)
        self.retry_max_wait = float(options.get("retry_max_wait", 5.0))
        self._secrets = secret_values(options)
        headers = {str(k): str(v) for k, v in (options.get("headers") or {}).items()}
        self._secrets += [v for k, v in headers.items()
                          if any(w in k.lower() for w in ("auth", "key", "token", "secret"))]
        auth, params = self._auth(options.get("auth"), headers)
        max_pages = options.get("max_pages")
        self.endpoints = [self._endpoint(e, max_pages) for e in options.get("endpoints") or []]
        names = [e.name for e in self.endpoints]
        if len(names) != len(set(names)):
            raise ConfigurationError(f"endpoint names must be unique: {names}")
        self._schemas: dict[str, list[ColumnInfo]] = {}
        self._client = httpx.Client(headers=headers, auth=auth, params=params, timeout=self.timeout,
                                    follow_redirects=True, verify=options.get("verify", True),
                                    event_hooks={"request": [_guard_request]})

    # --- options ------------------------------------------------------------------------------

    def _auth(self, raw: dict[str, Any] | None, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
        """httpx auth plus query params for the `auth` option; records every secret for redaction."""
        if not raw:
            return None, {}
        kind = raw.get("type")
        if kind == "bearer":
            token = str(raw.get("token") or "")
            self._secrets.append(token)
            headers["Authorization"] = f"Bearer {token}"
            return None, {}
        if kind == "basic":
            user, password = str(raw.get("username") or ""), str(raw.get("password") or "")
            self._secrets += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
            return httpx.BasicAuth(user, password), {}
        if kind == "api_key":
            name = str(raw.get("name") or "X-API-Key")
            value = str(raw.get("value") or raw.get("key_value") or "")
            self._secrets.append(value)
            where = raw.get("in", "header")
            if where == "header":
                headers[name] = value
                return None, {}
            if where == "query":
                return None, {name: value}
            raise ConfigurationError(f"api_key auth 'in' must be header or query, not {where!r}")
        raise ConfigurationError(f"unknown auth type {kind!r}", hint="use bearer, basic or api_key")

    @staticmethod
    def _endpoint(raw: dict[str, Any], max_pages: int | None) -> Endpoint:
        path = str(raw.get("path") or "")
        if not path:
            raise ConfigurationError(f"endpoint {raw.get('name')!r} needs a 'path'")
        name = str(raw.get("name") or path.strip("/").split("/")[-1] or "root")
        return Endpoint(
            name=name, path=path, paging=PagingSpec.parse(raw.get("pagination"), max_pages),
            records_path=raw.get("records_path"), params=dict(raw.get("params") or {}),
            primary_key=list(raw.get("primary_key") or []), cursor_param=raw.get("cursor_param"),
            cursor_column=raw.get("cursor_column"), columns=dict(raw.get("columns") or {}),
            total_path=raw.get("total_path"), cursor_param_after=bool(raw.get("cursor_param_after", False)),
        )

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _find(self, name: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise ObjectNotFoundError(f"no endpoint named {name!r}", system=self.display,
                                  hint=f"configured endpoints: {', '.join(e.name for e in self.endpoints) or 'none'}")

    @property
    def display(self) -> str:
        return redact_url(self.base_url)

    def clean(self, text: str) -> str:
        """Text safe to show: known secret values and URL passwords/keys replaced by ***."""
        return redact_text(redact_url(text), self._secrets)

    # --- HTTP ---------------------------------------------------------------------------------

    def _fetch(self, request: PageRequest, label: str) -> tuple[Any, httpx.Response]:
        """GET one page, retrying only a short `Retry-After`; map failures; decode JSON."""
        where = f"{label} page {request.number}"
        # httpx replaces a URL's query string with `params` (even the client's auth params), so the
        # query of a path or next link is merged in explicitly; explicit params win
        url = httpx.URL(request.url)
        params: list[tuple[str, Any]] = [(k, v) for k, v in url.params.multi_items() if k not in request.params]
        params += list(request.params.items())
        for attempt in range(RETRIES + 1):
            try:
                response = self._client.get(url.copy_with(query=None), params=params)
            except httpx.TimeoutException:
                raise SourceUnreachableError(
                    f"{self.display} did not answer within {self.timeout:g}s ({where})",
                    hint="check the server is up, or raise the source's timeout option") from None
            except httpx.UnsupportedProtocol as exc:
                raise ConfigurationError(f"bad URL for {where}: {self.clean(str(exc))}") from None
            except httpx.TransportError as exc:
                raise SourceUnreachableError(
                    f"cannot reach {self.display} ({where}): {self.clean(str(exc)) or type(exc).__name__}",
                    hint="check the host name, port and network path from this server") from None
            except httpx.DecodingError as exc:
                raise SourceFormatError(f"{where}: the body could not be decoded ({self.clean(str(exc))})",
                                        system=self.display) from None
            except (httpx.RequestError, httpx.InvalidURL) as exc:  # too many redirects, bad URL
                raise SourceError(f"{where}: {type(exc).__name__}: {self.clean(str(exc))}",
                                  hint="check the url option and the endpoint's path", system=self.display) from None
            log.debug("GET %s -> %s", self.clean(str(response.url)), response.status_code)
            wait = _retry_after(response)
            if response.status_code in (429, 503) and attempt < RETRIES and wait is not None \
                    and wait <= self.retry_max_wait:
                log.info("%s answered %s; retrying in %.1fs", self.display, response.status_code, wait)
                time.sleep(wait)
                continue
            break
        self._check_status(response, where)
        return self._decode(response, where), response

    def _check_status(self, response: httpx.Response, where: str) -> None:
        status = response.status_code
        if status < 400:
            return
        shown = f"{self.clean(str(response.url))} answered HTTP {status} ({where})"
        snippet = self.clean(_snippet(response.text))
        detail = f"{shown}: {snippet}" if snippet else shown
        ctx = {"system": self.display}
        if status in (401, 403):
            raise AuthenticationError(detail, hint="check the auth option (token, username/password or API key) "
                                                   "and that this key may read this endpoint", **ctx)
        if status == 404:
            raise ObjectNotFoundError(detail, hint="check the url option and the endpoint's path", **ctx)
        if status == 429:
            raise SourceServerError(detail, hint="the API is rate limiting us; the next scheduled run "
                                                 "will continue", **ctx)
        if status >= 500:
            raise SourceServerError(detail, hint="the department system failed; it is retried later", **ctx)
        raise SourceError(detail, hint="the API rejected the request; check the endpoint's params", **ctx)

    def _decode(self, response: httpx.Response, where: str) -> Any:
        content_type = response.headers.get("content-type", "none")
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise SourceFormatError(
                f"{where} is not JSON: content type {content_type!r}, body starts "
                f"{self.clean(_snippet(response.text))!r}",
                hint="check the url/path points at the API, not a web page or login screen",
                system=self.display) from None

    # --- the Source protocol ------------------------------------------------------------------

    def test(self) -> None:
        """One GET of the first endpoint's first page (or the base URL), with full error mapping."""
        if not self.endpoints:
            self._fetch(PageRequest(self.base_url, {}, 1), "base url")
            return
        endpoint = self.endpoints[0]
        params = {**endpoint.params, **endpoint.paging.first_params()}
        self._fetch(PageRequest(self._url(endpoint.path), params, 1), f"endpoint {endpoint.name!r}")

    def _pages(self, endpoint: Endpoint, params: dict[str, Any]) -> Generator[Page, None, None]:
        label = f"endpoint {endpoint.name!r}"

        def fetch(request: PageRequest) -> tuple[Any, httpx.Response]:
            return self._fetch(request, label)

        return iter_pages(endpoint.paging, self._url(endpoint.path), params, fetch,
                          endpoint.records_path, endpoint.name)

    def discover(self) -> list[SourceObject]:
        """One object per endpoint, its columns inferred from the first page (see `rest_schema`)."""
        objects = []
        for endpoint in self.endpoints:
            pages = self._pages(endpoint, dict(endpoint.params))
            first = next(pages)
            pages.close()
            records = [as_record(r) for r in first.records]
            columns = infer_columns(records, endpoint.columns)
            self._schemas[endpoint.name] = columns
            estimate: int | None = None
            if endpoint.total_path:
                total = dig(first.body, endpoint.total_path)
                estimate = int(total) if isinstance(total, int | float) else None
            elif endpoint.paging.type == "none":
                estimate = len(records)
            names = [c.name for c in columns]
            candidates = [endpoint.cursor_column] if endpoint.cursor_column in names else []
            candidates += [n for n in names if n.lower() in CURSOR_NAMES and n not in candidates]
            objects.append(SourceObject(endpoint.name, "endpoint", columns, list(endpoint.primary_key),
                                        estimate, [c for c in candidates if c]))
        return objects

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """Stream an endpoint page by page: one batch per page (chunked at `batch_rows`), rejects kept.

        The schema is the one `discover()` found on this source if it ran, else inferred from the
        first non-empty page of this read; it never changes during the read (`_extra` absorbs new keys).
        """
        endpoint = self._find(request.object)
        cursor = request.cursor
        params = dict(endpoint.params)
        if cursor is not None and endpoint.cursor_param:
            params[endpoint.cursor_param] = cursor.value
        converter: RowConverter | None = None
        cursor_at = -1
        bound: Any = None
        size = max(1, request.batch_rows)
        for page in self._pages(endpoint, params):
            records = [as_record(r) for r in page.records]
            if not records:
                continue
            if converter is None:
                columns = self._schemas.get(endpoint.name) or infer_columns(records, endpoint.columns)
                converter = RowConverter(pa.schema([pa.field(c.name, c.type, c.nullable) for c in columns]))
                if cursor is not None:
                    cursor_at, bound = self._bound(converter, endpoint, cursor.column, cursor.value)
            rows: list[list[Any]] = []
            rejects: list[Reject] = []
            for record in records:
                try:
                    row = converter.convert(record)
                except ConversionError as exc:
                    rejects.append(Reject(json.dumps(record, ensure_ascii=False, default=str), exc.reason))
                    continue
                if cursor_at >= 0:
                    value = row[cursor_at]
                    if value is None or value < bound or (value == bound and not request.inclusive):
                        continue
                rows.append(row)
            if not rows:
                if rejects:
                    yield Batch(None, rejects)
                continue
            for start in range(0, len(rows), size):
                yield Batch(converter.batch(rows[start:start + size]), rejects if start == 0 else [])

    def cursor_problem(self, obj: str, column: str | None) -> str | None:
        """Why a cursor on this endpoint could lose rows, or None: an API that filters strictly after
        the value it is sent drops the rows that share it, which no client-side check can recover."""
        endpoint = self._find(obj)
        if endpoint.cursor_param and endpoint.cursor_param_after:
            return (f"the API returns only rows strictly after {endpoint.cursor_param!r}, so rows that share "
                    "the last synced value would be lost; sync it in full, or drop 'cursor_param' so the "
                    "cursor is applied here (>= with the rows at the last value remembered)")
        return None

    def _bound(self, converter: RowConverter, endpoint: Endpoint, column: str, value: str) -> tuple[int, Any]:
        """Position of the cursor column and the cursor value converted to its type."""
        if column not in converter.names:
            raise ValidationError(f"cursor column {column!r} is not a field of endpoint {endpoint.name!r}",
                                  hint=f"fields: {', '.join(converter.names)}", system=self.display)
        at = converter.names.index(column)
        try:
            return at, converter.converters[at][2](value)
        except (TypeError, ValueError):
            raise ValidationError(f"cursor value {value!r} does not fit column {column!r} "
                                  f"({converter.converters[at][1]})", system=self.display) from None

    def close(self) -> None:
        self._client.close()


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (delta-seconds or an HTTP date), or None."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
