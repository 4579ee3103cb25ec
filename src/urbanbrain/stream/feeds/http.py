"""HTTP push feed: devices POST one reading or a batch to `/api/feeds/{name}` with the feed's key.

The route hands the body to the feed's pipeline in the serving process and answers once the
readings are durable (journal fsynced) or dead-lettered, so a 202 means "kept".
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from urbanbrain.core.errors import NotFoundError
from urbanbrain.stream.feeds.base import Deliver, Message

_ENDPOINTS: dict[str, Deliver] = {}
_LOCK = threading.Lock()


class HttpFeed:
    kind: ClassVar[str] = "http"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name

    def test(self) -> None:
        return None  # nothing to reach: devices come to us

    def start(self, deliver: Deliver) -> None:
        with _LOCK:
            _ENDPOINTS[self.name] = deliver

    def stop(self) -> None:
        with _LOCK:
            _ENDPOINTS.pop(self.name, None)

    def lag(self) -> int | None:
        return None


def push(name: str, body: bytes, timeout: float = 30.0) -> None:
    """Deliver one POST body and wait until the pipeline has made it durable."""
    with _LOCK:
        deliver = _ENDPOINTS.get(name)
    if deliver is None:
        raise NotFoundError(f"HTTP feed {name!r} is not running in this process",
                            hint="it starts with `urbanbrain serve`")
    done = threading.Event()
    deliver(Message(body, f"http.{name}", done.set))
    if not done.wait(timeout):
        from urbanbrain.core.errors import TransientError

        raise TransientError(f"feed {name!r} did not take the readings within {timeout:g} s (overloaded)",
                             hint="retry with backoff")


def running(name: str) -> bool:
    with _LOCK:
        return name in _ENDPOINTS
