"""The event bus: topics with dict payloads, published by the stream layer and anything after it.

Subjects are NATS-style, dot-separated (`alerts.major`, `state.ecology.air-stations`); a pattern
may use `*` for one token and `>` (last) for one or more tokens. The in-process bus is the default
(the demo and tests need no server); `URBANBRAIN_BUS_URL=nats://host:4222` selects NATS, so other
processes (the operations centre's event loop) see the same events. The topics urbanbrain publishes
and their payloads are listed in docs/stream.md.

A handler that raises is logged and skipped: one broken subscriber must not stop the publisher.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from urbanbrain.core.errors import ConfigurationError, TransientError

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` is exactly one token, a final `>` one or more."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return i == len(pat) - 1 and len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


class Subscription(Protocol):
    def unsubscribe(self) -> None: ...


class Bus(Protocol):
    """`publish` never blocks on a slow subscriber for long; `subscribe` returns a handle to stop."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def subscribe(self, pattern: str, handler: Handler) -> Subscription: ...

    def close(self) -> None: ...


class _LocalSubscription:
    def __init__(self, bus: InProcessBus, pattern: str, handler: Handler) -> None:
        self.bus, self.pattern, self.handler = bus, pattern, handler

    def unsubscribe(self) -> None:
        with self.bus._lock:
            if self in self.bus._subs:
                self.bus._subs.remove(self)


class InProcessBus:
    """Handlers run synchronously in the publisher's thread, in subscription order."""

    def __init__(self) -> None:
        self._subs: list[_LocalSubscription] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            subs = [s for s in self._subs if subject_matches(s.pattern, topic)]
        for sub in subs:
            try:
                sub.handler(topic, payload)
            except Exception:
                log.exception("bus subscriber %s failed on %s", sub.pattern, topic)

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        sub = _LocalSubscription(self, pattern, handler)
        with self._lock:
            self._subs.append(sub)
        return sub

    def close(self) -> None:
        with self._lock:
            self._subs.clear()


class NatsBus:
    """Core NATS (no JetStream): events are notifications; durable records live in the metadata store.

    nats-py is asyncio; the bus runs its own event loop in a daemon thread so synchronous callers
    (the stream pipeline, the CLI) can publish without an event loop of their own.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        import nats  # lazy: only when NATS is configured

        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ub-bus-nats", daemon=True)
        self._thread.start()

        async def _connect() -> Any:
            return await nats.connect(url, connect_timeout=timeout, max_reconnect_attempts=-1,
                                      allow_reconnect=True)

        try:
            self._nc = asyncio.run_coroutine_threadsafe(_connect(), self._loop).result(timeout + 1)
        except Exception as exc:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise TransientError(f"cannot connect to the event bus at {url}: {exc}",
                                 hint="start NATS (scripts/services.sh nats) or unset URBANBRAIN_BUS_URL "
                                      "to use the in-process bus") from None

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, default=str, ensure_ascii=False).encode()
        asyncio.run_coroutine_threadsafe(self._nc.publish(topic, data), self._loop).result(5)

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        async def _cb(msg: Any) -> None:
            try:
                handler(msg.subject, json.loads(msg.data or b"{}"))
            except Exception:
                log.exception("bus subscriber %s failed on %s", pattern, msg.subject)

        async def _sub() -> Any:
            sub = await self._nc.subscribe(pattern, cb=_cb)
            await self._nc.flush()
            return sub

        sub = asyncio.run_coroutine_threadsafe(_sub(), self._loop).result(5)
        loop = self._loop

        class _Handle:
            def unsubscribe(self) -> None:
                asyncio.run_coroutine_threadsafe(sub.unsubscribe(), loop).result(5)

        return _Handle()

    def flush(self) -> None:
        asyncio.run_coroutine_threadsafe(self._nc.flush(), self._loop).result(5)

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._nc.drain(), self._loop).result(5)
        except Exception:
            log.debug("closing the NATS bus", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)


_BUS: Bus | None = None
_BUS_LOCK = threading.Lock()


def bus_url() -> str | None:
    return os.environ.get("URBANBRAIN_BUS_URL") or None


def open_bus(url: str | None) -> Bus:
    if not url:
        return InProcessBus()
    if url.startswith(("nats://", "tls://")):
        return NatsBus(url)
    raise ConfigurationError(f"unsupported event bus URL {url!r}", hint="use nats://host:4222, or unset "
                             "URBANBRAIN_BUS_URL for the in-process bus")


def get_bus() -> Bus:
    """The process's bus, opened on first use from `URBANBRAIN_BUS_URL`."""
    global _BUS
    with _BUS_LOCK:
        if _BUS is None:
            _BUS = open_bus(bus_url())
        return _BUS


def reset_bus() -> None:
    global _BUS
    with _BUS_LOCK:
        if _BUS is not None:
            _BUS.close()
        _BUS = None
