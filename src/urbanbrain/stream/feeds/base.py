"""The `Feed` protocol every feed kind implements, and the registry of kinds (`urbanbrain.feeds`).

A feed delivers raw messages to a callback in its own thread(s). Delivery may block: that is the
backpressure (the pipeline's queue is bounded), and a feed must then stop taking messages from its
broker rather than buffer them (MQTT: the network loop stops reading, so the broker's in-flight
window fills; JetStream: no further pull). Each message carries `ack`, which the pipeline calls
only once the reading is durable on our side (journal fsynced, or dead letter committed): a feed
with acknowledgements (MQTT QoS 1, JetStream) therefore never loses a message to a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from urbanbrain.core.registry import Registry


@dataclass
class Message:
    payload: bytes
    topic: str = ""
    ack: Callable[[], None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


Deliver = Callable[[Message], None]


@runtime_checkable
class Feed(Protocol):
    """`test` raises `SourceUnreachableError` (broker down) or `AuthenticationError` (refused) or
    returns; `start` connects and delivers until `stop`; `lag` is messages waiting at the broker
    when the kind can tell (JetStream), else None."""

    kind: ClassVar[str]

    def test(self) -> None: ...

    def start(self, deliver: Deliver) -> None: ...

    def stop(self) -> None: ...

    def lag(self) -> int | None: ...


FEEDS: Registry[Any] = Registry("urbanbrain.feeds", "feed kind")


def open_feed(kind: str, name: str, options: dict[str, Any]) -> Feed:
    """Instantiate the feed kind registered under `kind`; `name` keys durable sessions/consumers."""
    factory = FEEDS.get(kind)
    feed: Feed = factory(name, options)
    return feed
