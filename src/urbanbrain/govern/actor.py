"""Who is acting in this context: a context variable the audit chain reads.

Kept apart from govern.audit (which needs the database layers) so the CLI can name its actor
without importing SQLAlchemy before it knows which command runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

from urbanbrain.govern.principals import SYSTEM, Principal

_ACTOR: ContextVar[Principal | None] = ContextVar("urbanbrain_audit_actor", default=None)


def set_actor(principal: Principal | None) -> Token[Principal | None]:
    """Say who is acting in this context (the web middleware per request, the CLI once per process)."""
    return _ACTOR.set(principal)


def reset_actor(token: Token[Principal | None]) -> None:
    _ACTOR.reset(token)


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = set_actor(principal)
    try:
        yield
    finally:
        reset_actor(token)


def current_actor() -> Principal:
    """The principal service functions audit when their caller names none: urbanbrain itself by default."""
    return _ACTOR.get() or SYSTEM
