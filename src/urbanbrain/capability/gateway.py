"""The gateway: the one service function every capability call goes through.

`invoke(name, version, params, api_key)` runs, in this order: key check (401) → the capability must be
published or deprecated (404) → an approved, unexpired grant (403) → quota (429) → parameters against
the input schema (422) → the kind runs the call → metering and audit (both buffered, written in
batches). The order matters: an unknown caller learns nothing about quotas or schemas, and a refused
call costs no capability work. The HTTP route and the
CLI's `capability call` both call this, so they cannot disagree about the rules.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from urbanbrain.capability import cache
from urbanbrain.capability.base import KINDS, CapabilityKind, InvokeResult
from urbanbrain.capability.consumers import authenticate, hash_key
from urbanbrain.capability.grants import check_grant
from urbanbrain.capability.kinds.data_api import jsonable
from urbanbrain.capability.metering import Call, get_meter
from urbanbrain.capability.params import validate_params
from urbanbrain.capability.quota import MemoryQuotaStore, enforce, get_quota_store
from urbanbrain.core.errors import NotFoundError, UrbanBrainError
from urbanbrain.core.metrics import GATEWAY_CALLS, GATEWAY_SECONDS
from urbanbrain.govern import audit
from urbanbrain.govern.context import acting_as
from urbanbrain.govern.principals import Principal, consumer_principal

log = logging.getLogger(__name__)

StatusOf = Callable[[UrbanBrainError], int]
_KIND_INSTANCES: dict[str, CapabilityKind] = {}


_STATUS_LABELS = {code: str(code) for code in (200, 400, 401, 403, 404, 422, 429, 500, 502, 503, 504)}

def _kind(name: str) -> CapabilityKind:
    kind = _KIND_INSTANCES.get(name)
    if kind is None:
        kind = _KIND_INSTANCES[name] = KINDS.get(name)()
    return kind


def _callable(name: str, version: int) -> cache.ResolvedCapability:
    cap = cache.capability(name, version)
    if cap is None or cap.status == "draft":
        raise NotFoundError(f"no published capability {name} v{version}", capability=name,
                            hint="see /capabilities/openapi.json for what can be called")
    return cap


def encode(name: str, version: int, result: InvokeResult) -> bytes:
    """The response body: the answer plus paging facts, as compact UTF-8 JSON."""
    envelope = {"capability": name, "version": version, "data": result.data, "rows": result.rows,
                "truncated": result.truncated}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=jsonable).encode()


def invoke_encoded(name: str, version: int, params: Any, api_key: str | None, *,
                   status_of: StatusOf | None = None) -> tuple[InvokeResult, bytes]:
    """`invoke`, also returning the encoded body (the route sends it as is; metering counts its bytes).

    `status_of` maps an error to the status the caller will see (the web layer passes its one mapping);
    without it, failed calls are metered as 500.
    """
    start = time.perf_counter()
    key: cache.ResolvedKey | None = None
    cap: cache.ResolvedCapability | None = None

    def meter(status: int, size: int, error: str | None = None) -> None:
        latency = (time.perf_counter() - start) * 1000
        GATEWAY_CALLS.inc(_STATUS_LABELS.get(status) or str(status))  # /metrics: a dict bump, no lock
        GATEWAY_SECONDS.observe(latency / 1000)
        get_meter().record(Call(
            capability_id=cap.id if cap else None, consumer_id=key.consumer_id if key else None,
            consumer_department_id=key.department_id if key else None, key_id=key.key_id if key else None,
            status_code=status, latency_ms=latency, result_bytes=size, error=error))
        # an anonymous caller is audited too: who knocked with no valid key is what an auditor asks first
        caller = Principal("consumer", key.consumer_name) if key else Principal("consumer", "anonymous")
        audit.record(caller, "capability.call", f"{name} v{version}",
                     {"status": status, "key": key.key_id if key else None, "ms": round(latency, 2),
                      "bytes": size, "error": error}, buffered=True)

    try:
        key = authenticate(api_key)
        cap = _callable(name, version)
        grant = check_grant(key.consumer_id, cap.id, name)
        enforce(grant.id, grant.per_minute, grant.per_day)
        params = validate_params(cap.validator, params)
        with acting_as(consumer_principal(key.consumer_name, key.department_code), capability_grant=True):
            result = _kind(cap.definition.kind).invoke(cap.definition, params)
        body = encode(name, version, result)
    except UrbanBrainError as exc:
        meter(status_of(exc) if status_of else 500, 0, f"{type(exc).__name__}: {exc.message}"[:500])
        raise
    except Exception as exc:
        log.exception("capability %s v%s failed", name, version)
        meter(500, 0, type(exc).__name__)
        raise
    meter(200, len(body))
    return result, body


def runs_inline(name: str, version: int, api_key: str | None) -> bool:
    """Whether this call can be answered without blocking: every rule it needs is already in memory
    (key, capability, grant; quota counters in this process) and its implementation is `inline`.

    The HTTP front asks before choosing between its event loop and its thread pool; a miss costs
    nothing but the hop, and the answer is the same either way, since both run `invoke_encoded`."""
    if not api_key or not isinstance(get_quota_store(), MemoryQuotaStore):
        return False
    if not cache.warm(name, version, hash_key(api_key.strip())):
        return False
    cap = cache.capability(name, version)
    if cap is None:
        return True  # a cached "no such capability": the 401/404 answer needs no I/O either
    try:
        inline = getattr(_kind(cap.definition.kind), "inline", None)  # a plug-in kind may predate `inline`
        return bool(inline is not None and inline(cap.definition))
    except UrbanBrainError:
        return False  # let the normal path report the broken plug-in


def invoke(name: str, version: int, params: Any, api_key: str | None, *,
           status_of: StatusOf | None = None) -> InvokeResult:
    """Call a capability as the consumer holding `api_key`.

    >>> invoke("echo", 1, {"message": "你好"}, api_key=key).data
    {'echo': {'message': '你好'}}
    """
    return invoke_encoded(name, version, params, api_key, status_of=status_of)[0]
