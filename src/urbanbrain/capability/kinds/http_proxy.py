"""HTTP proxies: an existing department service released through the gateway.

`implementation = {"url": "https://...", "method": "POST", "timeout": 5, "retries": 1}`; a bearer
token or extra headers live encrypted in `implementation_secret` (`{"token": ...}` or
`{"headers": {...}}`) and are never returned by the catalog. POST sends the parameters as a JSON body,
GET as the query string.

A hanging target must not hang a gateway worker: every request has a hard timeout, and a timeout is
not retried (a service that hung once will most likely hang again, and the caller is waiting) — it
becomes `UpstreamTimeoutError` (504). Connection failures and 502/503/504 answers are retried with a
short backoff, because those usually are momentary.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from urbanbrain.capability.base import CapabilityDefinition, InvokeResult
from urbanbrain.core.errors import (
    SourceError,
    SourceServerError,
    SourceUnreachableError,
    UpstreamTimeoutError,
    ValidationError,
)

MAX_TIMEOUT = 60.0
MAX_RETRIES = 3
RETRY_STATUSES = {502, 503, 504}

_CLIENT: httpx.Client | None = None
_CLIENT_LOCK = threading.Lock()


def _client() -> httpx.Client:
    """One pooled client per process: connection reuse matters when a proxy is called thousands of times."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=100))
        return _CLIENT


def _options(definition: CapabilityDefinition) -> tuple[str, str, float, int]:
    impl = definition.implementation
    url = str(impl.get("url") or "")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ValidationError("an HTTP proxy needs implementation.url: an http(s) URL", capability=definition.name)
    method = str(impl.get("method", "POST")).upper()
    if method not in ("GET", "POST"):
        raise ValidationError(f"HTTP proxy method must be GET or POST, not {method}", capability=definition.name)
    timeout = min(float(impl.get("timeout", 10.0)), MAX_TIMEOUT)
    if timeout <= 0:
        raise ValidationError("HTTP proxy timeout must be positive seconds", capability=definition.name)
    retries = max(0, min(int(impl.get("retries", 1)), MAX_RETRIES))
    return url, method, timeout, retries


def _headers(definition: CapabilityDefinition) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    headers.update({str(k): str(v) for k, v in (definition.secrets.get("headers") or {}).items()})
    if definition.secrets.get("token"):
        headers["Authorization"] = f"Bearer {definition.secrets['token']}"
    return headers


def _answer(response: httpx.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


class HttpProxyKind:
    """Forwards validated parameters to the department service and returns its answer as `data`."""

    kind: ClassVar[str] = "http_proxy"

    def validate(self, definition: CapabilityDefinition) -> None:
        _options(definition)

    def inline(self, definition: CapabilityDefinition) -> bool:
        return False  # waits on a department's service over the network

    def invoke(self, definition: CapabilityDefinition, params: dict[str, Any]) -> InvokeResult:
        url, method, timeout, retries = _options(definition)
        host = urlsplit(url).netloc  # context names the host only: URLs may carry tokens in their query
        request: dict[str, Any] = {"json": params} if method == "POST" else {"params": params}
        attempt = 0
        while True:
            try:
                response = _client().request(method, url, headers=_headers(definition),
                                             timeout=httpx.Timeout(timeout), **request)
            except httpx.TimeoutException:
                raise UpstreamTimeoutError(f"the department service did not answer within {timeout:g} s",
                                           capability=definition.name, host=host,
                                           hint="try again later, or ask the owning department") from None
            except httpx.TransportError as exc:
                if attempt < retries:
                    attempt += 1
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise SourceUnreachableError(f"cannot reach the department service: {type(exc).__name__}",
                                             capability=definition.name, host=host) from None
            if response.status_code in RETRY_STATUSES and attempt < retries:
                attempt += 1
                time.sleep(0.1 * 2**attempt)
                continue
            if response.status_code >= 500:
                raise SourceServerError(f"the department service failed with HTTP {response.status_code}",
                                        capability=definition.name, host=host)
            if response.status_code >= 400:
                raise SourceError(f"the department service refused the call with HTTP {response.status_code}",
                                  capability=definition.name, host=host)
            data = _answer(response)
            return InvokeResult(data=data, rows=len(data) if isinstance(data, list) else None)
