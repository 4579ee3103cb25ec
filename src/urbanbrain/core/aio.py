"""Run a coroutine to completion from synchronous code, whatever the calling thread is doing.

`asyncio.run` refuses to start when the calling thread already has a running event loop (a sync
helper called from inside an async route, a test runner's loop); then the coroutine runs on a fresh
loop in a short-lived thread instead, and its result or exception comes back here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result, run on its own event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="urbanbrain-aio", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
