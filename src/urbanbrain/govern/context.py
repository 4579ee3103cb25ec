"""Who a capability call runs for, so a data API reads the lake as its consumer.

The gateway knows the consumer; the capability kinds do not take a principal (their protocol is
shared by every kind), so the gateway sets it here around the call and the data-API kind reads it.
Unset means nobody vouched for the caller, and the read is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern.principals import Principal

_CALLER: ContextVar[tuple[Principal, bool] | None] = ContextVar("ub_caller", default=None)


@contextmanager
def acting_as(principal: Principal, *, capability_grant: bool = False) -> Iterator[None]:
    """Run the block for `principal`; `capability_grant` says an approved capability grant covers it."""
    token = _CALLER.set((principal, capability_grant))
    try:
        yield
    finally:
        _CALLER.reset(token)


def current_caller() -> tuple[Principal, bool]:
    caller = _CALLER.get()
    if caller is None:
        raise PermissionDeniedError("this capability reads the lake and needs a caller",
                                    hint="call it through the gateway with an API key")
    return caller
